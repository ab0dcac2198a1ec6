import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// Several processes at once, and processes killed mid-write: the store must stay consistent. The writer is
/// `acervo-torture`, not the `acervo` users install.
@Suite(.serialized) struct CrashConsistencyTests {
    @Test func `processes putting the same blob at once leave one valid object`() async throws {
        let folder = TemporaryFolder()
        let file = folder.file("same.mp4", bytes: randomBytes(8 * 1024 * 1024))
        let storePath = folder.path + "/store"
        _ = try await Store.open(at: storePath)

        let outcomes = try concurrentRuns(8) { try run(tortureBinary, ["put", storePath, file]) }

        #expect(outcomes.allSatisfy { $0.status == 0 })
        #expect(Set(outcomes.map(\.stdout)).count == 1)
        let store = try await Store.open(at: storePath)
        #expect(try await store.blobs.inventory().digests.count == 1)
        #expect(try await store.fsck(repair: false).isClean)
        #expect(FileSystem.entries(of: storePath + "/tmp").isEmpty)
    }

    /// The kill moments come from a fixed seed: a failing round names its seed and replays exactly.
    @Test func `after SIGKILL at 50 seeded random moments the store is clean and every committed result is whole`() async throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        var schedule = SeededGenerator(seed: 20_261_126)
        var committed: [ActionKey] = []
        for round in 0..<50 {
            let delay = UInt32.random(in: 20_000...250_000, using: &schedule)
            // The process's life on a thread of its own: sleeping and waiting on the cooperative pool would
            // hold one of its few threads for the whole test.
            let printed = try await offPool {
                let writer = Process()
                writer.executableURL = URL(fileURLWithPath: tortureBinary)
                writer.arguments = ["write", storePath, String(round)]
                let output = Pipe()
                writer.standardOutput = output
                writer.standardError = FileHandle.nullDevice
                try writer.run()
                // The seeded moment counts from the writer's first durable commit (store open, lock held, one
                // result in), whatever the machine's load: every round kills a writer in the middle of its work.
                let handle = output.fileHandleForReading
                var first = Data()
                while !(first.last == 10 && String(decoding: first, as: UTF8.self).contains("\ncommitted ")) {
                    let byte = handle.readData(ofLength: 1)
                    if byte.isEmpty { break }
                    first.append(byte)
                }
                let rest = Drain(handle)
                usleep(delay)
                kill(writer.processIdentifier, SIGKILL)
                writer.waitUntilExit()
                return String(decoding: first + rest.wait(), as: UTF8.self)
            }
            committed += printed.split(separator: "\n").compactMap { line in
                line.hasPrefix("committed ") ? ActionKey(hex: String(line.dropFirst("committed ".count))) : nil
            }

            let store = try await Store.open(at: storePath)
            let report = try await store.fsck(repair: false)
            #expect(report.isClean, "round \(round): \(report)")
            for key in committed {
                let result = try #require(try await store.actionCache.result(forKey: key), "round \(round): result \(key) lost")
                for digest in result.outputs.values { #expect(await store.blobs.contains(digest)) }
            }
        }
        #expect(committed.count >= 50, "the writer should have committed results in most rounds")
    }

    private func concurrentRuns(_ count: Int, _ body: @escaping @Sendable () throws -> Outcome) throws -> [Outcome] {
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: count) { _ in results.append(Result { try body() }) }
        return try results.all.map { try $0.get() }
    }
}

private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Result<Outcome, any Error>] = []
    func append(_ value: Result<Outcome, any Error>) { lock.withLock { values.append(value) } }
    var all: [Result<Outcome, any Error>] { lock.withLock { values } }
}
