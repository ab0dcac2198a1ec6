import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

@Suite(.serialized) struct InterruptTests {
    @Test func `SIGTERM stops new actions, lets the running one commit, and the next build does only the rest`() async throws {
        let project = try ExampleCourseTests.Project()
        let lesson = project.path + "/examples/course/03-extra/01-largo"
        try FileManager.default.createDirectory(atPath: lesson, withIntermediateDirectories: true)
        // Forty seconds with a new slide every two: enough OCR work that the build is still running when stopped.
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ffmpeg.arguments = [
            "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=320x180:r=2:d=40",
            "-f", "lavfi", "-i", "sine=f=300:d=40", "-vf",
            "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fontsize=24:x=20:y=70:text='Tema %{eif\\:floor(t/2)\\:d}'",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", lesson + "/largo.mp4",
        ]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        #expect(ffmpeg.terminationStatus == 0, "ffmpeg is needed: run scripts/setup")

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

        #expect(build.terminationStatus == 1, "\(printed)")
        #expect(printed.contains("interrupted: actions not started are recorded as skipped"))
        let store = try await Store.open(at: project.path + "/store")
        #expect(try await store.fsck(repair: false).isClean)
        let stopped = try #require(try await store.journal.runs(limit: 1).first)
        #expect(stopped.status == .interrupted)
        let stoppedEvents = try await store.events(run: stopped.id)
        let firstExecuted = Set(stoppedEvents.filter { $0.decision == .executed }.map { "\($0.itemID):\($0.rule)" })
        #expect(stoppedEvents.contains { $0.reason == .interrupted })

        let resumed = try project.build()
        let secondExecuted = try project.executed(resumed)
        #expect(resumed.failed == 0)
        #expect(firstExecuted.isDisjoint(with: secondExecuted), "finished actions are not paid for twice")
        #expect(firstExecuted.count + secondExecuted.count == 44)
    }
}
