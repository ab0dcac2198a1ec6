import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

@Suite(.serialized) struct InterruptTests {
    @Test func `SIGTERM stops new actions, lets the running one commit, and the next build does only the rest`() async throws {
        // The build is started, watched and waited for on a thread of its own, never on the cooperative pool.
        let (project, status, printed) = try await offPool { () throws -> (ExampleCourseTests.Project, Int32, String) in
            let project = try ExampleCourseTests.Project()
            let lesson = project.path + "/examples/course/03-extra/01-largo"
            try FileManager.default.createDirectory(atPath: lesson, withIntermediateDirectories: true)
            // Forty seconds with a new slide every two: enough OCR work that the build is still running when stopped.
            try makeSlideVideo(at: lesson + "/largo.mp4", seconds: 40)

            let build = Process()
            build.executableURL = URL(fileURLWithPath: acervoBinary)
            build.arguments = ["build", "--jobs", "1"]
            build.currentDirectoryURL = URL(fileURLWithPath: project.path)
            let output = Pipe()
            let errors = Pipe()
            build.standardOutput = output
            build.standardError = errors
            try build.run()
            let stderr = Drain(errors.fileHandleForReading)
            var printed = ""
            while !printed.contains("executed") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                printed += String(decoding: chunk, as: UTF8.self)
            }
            kill(build.processIdentifier, SIGTERM)
            printed += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            build.waitUntilExit()
            _ = stderr.wait()
            return (project, build.terminationStatus, printed)
        }

        #expect(status == 5, "\(printed)")
        #expect(printed.contains("did not run; the next build runs them (exit 5)"), "\(printed)")
        let store = try await Store.open(at: project.path + "/store")
        #expect(try await store.fsck(repair: false).isClean)
        let stopped = try #require(try await store.journal.runs(limit: 1).first)
        #expect(stopped.status == .interrupted)
        let stoppedEvents = try await store.events(run: stopped.id)
        let firstExecuted = Set(stoppedEvents.filter { $0.decision == .executed }.map { "\($0.itemID):\($0.rule)" })
        #expect(stoppedEvents.contains { $0.reason == .interrupted })
        #expect(!stoppedEvents.contains { $0.decision == .failed }, "an action ended by the stop is interrupted, never failed")

        let secondExecuted = try await offPool { try project.executed(try project.build()) }
        #expect(firstExecuted.isDisjoint(with: secondExecuted), "finished actions are not paid for twice")
        #expect(firstExecuted.count + secondExecuted.count == 44)
    }
}
