import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
import AcervoTools
@testable import AcervoApp
import AcervoProcessors

/// A build killed with SIGKILL while its tools run (the OOM killer, a container stop): no tool outlives it,
/// the next build removes what it left in the temp folder, completes, and the store is clean.
@Suite(.serialized) struct KillTests {
    @Test func `SIGKILL while tools run leaves no tool running and no scratch folder after the next build`() async throws {
        try await offPool {
            for round in 0..<3 {
                let project = try ExampleCourseTests.Project()
                let build = Process()
                build.executableURL = URL(fileURLWithPath: acervoBinary)
                build.arguments = ["build", "--quiet", "--jobs", "2"]
                build.currentDirectoryURL = URL(fileURLWithPath: project.path)
                build.standardOutput = FileHandle.nullDevice
                build.standardError = FileHandle.nullDevice
                try build.run()
                // Tools read blobs from the project's store: their command lines name it.
                let store = project.path + "/store/objects"
                var children: [Int32] = []
                while children.isEmpty && build.isRunning { children = processes(mentioning: store).filter { $0 != build.processIdentifier } }
                #expect(!children.isEmpty, "round \(round): the build ended before a tool started")
                kill(build.processIdentifier, SIGKILL)
                build.waitUntilExit()
                let killed = build.processIdentifier

                // The kernel kills them as their parent goes; give the exits a moment to be reaped.
                var left = processes(mentioning: store)
                for _ in 0..<200 where !left.isEmpty {
                    usleep(50_000)
                    left = processes(mentioning: store)
                }
                #expect(left.isEmpty, "round \(round): tools outlived the build: \(left)")

                let next = try project.build()
                #expect(next.failed == 0)
                let scratch = (try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())).filter { $0.hasPrefix("acervo-work-\(killed)-") }
                #expect(scratch.isEmpty, "round \(round): \(scratch)")
                #expect(try acervo(["fsck"], in: project.path).status == 0)
            }
        }
    }

    @Test func `scratch folders of live processes are kept, of dead ones removed`() async throws {
        try await offPool {
            let directory = TemporaryDirectory("acervo-scratch")
            let live = directory.path + "/acervo-work-\(getpid())-a"
            // A pid far above the kernel's default maximum (4194304) is never a live process.
            let dead = directory.path + "/acervo-work-99999999-b"
            let other = directory.path + "/acervo-work-notapid"
            for path in [live, dead, other] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
            #expect(StaleScratch.removeLeftovers(in: directory.path) == 1)
            #expect(FileManager.default.fileExists(atPath: live) && !FileManager.default.fileExists(atPath: dead) && FileManager.default.fileExists(atPath: other))
        }
    }
}
