import AcervoTestSupport
import Foundation
import Testing

/// Several processes meeting a store that does not exist yet (a service and a cron job starting together):
/// each finds it created and its schema up to date, whoever came first.
@Suite(.serialized) struct NewStoreRaceTests {
    @Test func `fifty builds each started together with fsck on a new store all succeed`() async throws {
        try await offPool {
            let folder = TemporaryFolder()
            let course = folder.path + "/course/01-inicio/01-hola"
            try FileManager.default.createDirectory(atPath: course, withIntermediateDirectories: true)
            try "name: Carrera\nlanguage: es\n".write(toFile: folder.path + "/course/course.yaml", atomically: true, encoding: .utf8)
            try "WEBVTT\n\n00:00.000 --> 00:01.000\nHola.\n".write(toFile: course + "/hola.vtt", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: folder.path + "/rules", withIntermediateDirectories: true)
            try """
                source: { kind: local, path: course }
                rules:
                  transcript: { processor: captions@2, input: captions }
                  document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: transcript } }
                sink: { kind: local, document: document }
                """.write(toFile: folder.path + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
            var failures: [String] = []
            for attempt in 0..<50 {
                let store = folder.path + "/store-\(attempt)"
                let others = [["fsck"], ["status"], ["plan"]][attempt % 3]
                let results = try concurrently([
                    ["build", "--quiet", "--store", store],
                    others + ["--store", store],
                ], in: folder.path)
                if results[0].status != 0 { failures.append("try \(attempt): build exited \(results[0].status): \(results[0].stderr)") }
                if results[1].stderr.contains("SQLite") { failures.append("try \(attempt): \(others[0]): \(results[1].stderr)") }
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
        }
    }

    /// Starts every command at once and waits for all of them.
    func concurrently(_ commands: [[String]], in directory: String) throws -> [Outcome] {
        let results = UnsafeSendableBox<[Int: Outcome]>([:])
        let lock = NSLock()
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for (index, arguments) in commands.enumerated() {
            group.enter()
            Thread.detachNewThread {
                start.wait()
                let outcome = (try? acervo(arguments, in: directory)) ?? Outcome(status: -1, stdout: "", stderr: "could not start")
                lock.lock()
                results.value[index] = outcome
                lock.unlock()
                group.leave()
            }
        }
        for _ in commands { start.signal() }
        group.wait()
        return commands.indices.map { results.value[$0]! }
    }
}

/// A value shared by test threads that guard it themselves.
final class UnsafeSendableBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
