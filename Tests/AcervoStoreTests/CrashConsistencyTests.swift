import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoStore

/// Several processes at once, and processes killed mid-write: the store must stay consistent.
@Suite(.serialized) struct CrashConsistencyTests {
    @Test func `two processes putting the same blob at once leave one valid object`() throws {
        let folder = TemporaryFolder()
        let file = folder.file("same.mp4", bytes: randomBytes(8 * 1024 * 1024))
        let storePath = folder.path + "/store"
        _ = try Store.open(at: storePath)

        let outcomes = try concurrentRuns(8) { try acervo(["put", "--store", storePath, file]) }

        #expect(outcomes.allSatisfy { $0.status == 0 })
        #expect(Set(outcomes.map(\.stdout)).count == 1)
        let store = try Store.open(at: storePath)
        #expect(store.blobs.allObjects().digests.count == 1)
        #expect(try store.fsck(repair: false).isClean)
        #expect(FileSystem.entries(of: storePath + "/tmp").isEmpty)
    }

    @Test func `a second writer exits with code 4 naming the holder, or waits with --wait`() throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        let writer = try startTorture(store: storePath, seed: 0)
        defer { writer.process.terminate() }
        _ = writer.output.fileHandleForReading.availableData  // the first line: the lock is held

        let refused = try acervo(["gc", "--store", storePath, "--apply"])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("locked by another build (pid \(writer.process.processIdentifier), acervo _torture"))

        let waiting = Process()
        waiting.executableURL = URL(fileURLWithPath: acervoBinary)
        waiting.arguments = ["gc", "--store", storePath, "--apply", "--wait", "--json"]
        waiting.standardOutput = Pipe()
        try waiting.run()
        usleep(200_000)
        #expect(waiting.isRunning)
        kill(writer.process.processIdentifier, SIGKILL)
        waiting.waitUntilExit()
        #expect(waiting.terminationStatus == 0)
    }

    @Test func `after SIGKILL at 50 random moments the store is clean and every committed result is whole`() throws {
        let folder = TemporaryFolder()
        let storePath = folder.path + "/store"
        var committed: [String] = []
        for round in 0..<50 {
            let writer = try startTorture(store: storePath, seed: round)
            usleep(UInt32.random(in: 20_000...250_000))
            kill(writer.process.processIdentifier, SIGKILL)
            writer.process.waitUntilExit()
            let printed = String(decoding: writer.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            committed += printed.split(separator: "\n").compactMap { line in
                line.hasPrefix("committed ") ? String(line.dropFirst("committed ".count)) : nil
            }

            let store = try Store.open(at: storePath)
            let report = try store.fsck(repair: false)
            #expect(report.isClean, "round \(round): \(report)")
            for key in committed {
                let result = try #require(try store.actionCache.lookup(key), "round \(round): result \(key) lost")
                for digest in result.outputs.values { #expect(store.blobs.contains(digest)) }
            }
        }
        #expect(committed.count >= 50, "the writer should have committed results in most rounds")
    }

    private func startTorture(store: String, seed: Int) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: acervoBinary)
        process.arguments = ["_torture", "--store", store, "--seed", String(seed)]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, output)
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
