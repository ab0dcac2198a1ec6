import AcervoStore
import AcervoTestSupport
import Foundation
import Synchronization
import Testing

/// `acervo serve` as a process, its log (stderr) collected line by line.
final class ServeProcess: Sendable {
    private let process: Process
    private let log = Mutex("")
    let pid: Int32

    /// Starts `acervo serve ARGUMENTS` in `directory`, in a process group of its own (Foundation makes each
    /// child a group leader, as a shell or systemd does for a service), so a test can signal the whole group.
    init(in directory: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: acervoBinary)
        process.arguments = ["serve", "--listen", "127.0.0.1:0"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        pid = process.processIdentifier
        let handle = errors.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                log.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
        }
    }

    var logged: String { log.withLock { $0 } }

    /// Waits (off the cooperative pool) until the log holds `text` `count` times; false after `seconds`.
    func waitForLog(_ text: String, count: Int = 1, seconds: Double = 180) async throws -> Bool {
        try await offPool { [self] in
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if logged.components(separatedBy: text).count - 1 >= count { return true }
                if !process.isRunning { return logged.components(separatedBy: text).count - 1 >= count }
                usleep(20_000)
            }
            return false
        }
    }

    /// Waits for the process to exit; its status and how long that took.
    func waitForExit() async throws -> (status: Int32, seconds: Double) {
        let started = Date()
        return try await offPool { [process] in
            process.waitUntilExit()
            return (process.terminationStatus, Date().timeIntervalSince(started))
        }
    }
}

/// Unattended nights: a service stopped (SIGTERM, to it or to its whole process group) or killed (SIGKILL)
/// in the middle of a night loses nothing — no action recorded as failed, the night completed on the next
/// start, once.
@Suite(.serialized) struct NightSurvivalTests {
    /// The example course plus a long lesson, with the example's schedule (03:00 in São Paulo): on a fresh
    /// store the night has passed, so the service builds as soon as it starts.
    static func project() async throws -> TemporaryFolder {
        try await offPool {
            let folder = TemporaryFolder()
            try copyExampleProject(into: folder.path)
            let lesson = folder.path + "/examples/course/03-extra/01-largo"
            try FileManager.default.createDirectory(atPath: lesson, withIntermediateDirectories: true)
            try makeSlideVideo(at: lesson + "/largo.mp4", seconds: 60)
            return folder
        }
    }

    /// Waits until a tool the build started (ffmpeg, tesseract: their command lines name the store) is running.
    static func waitForTool(in project: String) async throws -> Bool {
        try await offPool {
            for _ in 0..<3000 {
                if !processes(mentioning: project + "/store/objects").isEmpty { return true }
                usleep(5_000)
            }
            return false
        }
    }

    static func builds(in project: String) async throws -> [Run] {
        let store = try await Store.open(at: project + "/store")
        return try await store.journal.runs(limit: 50).filter { $0.command == .build }.sorted { $0.startedAt < $1.startedAt }
    }

    static func failedEvents(in project: String) async throws -> [Event] {
        let store = try await Store.open(at: project + "/store")
        var failed: [Event] = []
        for run in try await builds(in: project) { failed += try await store.events(run: run.id).filter { $0.decision == .failed } }
        return failed
    }

    /// Starts the service again, waits for its night to end, stops it: the night ran once, the knowledge base
    /// has every lesson, and no action was ever recorded as failed.
    static func completesTheNight(_ project: String) async throws {
        let again = try ServeProcess(in: project, ["--stop-grace", "10"])
        #expect(try await again.waitForLog("build ended"), "\(again.logged)")
        #expect(again.logged.contains("has not run (or did not finish): building now"), "an interrupted night counts as not run: \(again.logged)")
        kill(again.pid, SIGTERM)
        #expect(try await again.waitForExit().status == 0)
        #expect(again.logged.components(separatedBy: "build starting").count == 2, "the night runs once: \(again.logged)")

        let builds = try await builds(in: project)
        #expect(builds.map(\.status) == [.interrupted, .ok], "\(builds)")
        #expect(try await failedEvents(in: project).isEmpty)
        let status = try await acervoOffPool(["status", "--json"], in: project)
        let report = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let knowledgeBase = try #require(report?["knowledgeBase"] as? [String: Any], "\(status.stdout)")
        #expect(knowledgeBase["documents"] as? Int == 6)
    }

    @Test func `SIGTERM a moment into a night stops within the grace, fails nothing, and the next start completes the night`() async throws {
        let folder = try await Self.project()
        let service = try ServeProcess(in: folder.path, ["--stop-grace", "10"])
        #expect(try await service.waitForLog("build starting"), "\(service.logged)")
        try await Task.sleep(for: .seconds(1))

        kill(service.pid, SIGTERM)
        let (status, seconds) = try await service.waitForExit()
        #expect(status == 0, "\(service.logged)")
        #expect(seconds < 10 + 15, "the grace (10 s) bounds the stop; it took \(seconds) s")
        #expect(service.logged.contains("shutting down"), "\(service.logged)")
        let first = try await Self.builds(in: folder.path)
        #expect(first.map(\.status) == [.interrupted])
        #expect(try await Self.failedEvents(in: folder.path).isEmpty, "actions ended by the shutdown are interrupted, not failed")

        try await Self.completesTheNight(folder.path)
    }

    @Test func `SIGTERM to the service's whole process group reaches only the service, which stops its tools itself`() async throws {
        let folder = try await Self.project()
        let service = try ServeProcess(in: folder.path, ["--stop-grace", "10"])
        #expect(getpgid(service.pid) == service.pid, "the service leads a process group of its own")
        #expect(try await service.waitForLog("build starting"), "\(service.logged)")
        #expect(try await Self.waitForTool(in: folder.path))
        try await Task.sleep(for: .milliseconds(500))

        kill(-service.pid, SIGTERM)  // what systemd (KillMode=mixed aside), `timeout` and a terminal's Ctrl-C do
        let (status, seconds) = try await service.waitForExit()
        #expect(status == 0, "\(service.logged)")
        #expect(seconds < 10 + 15)
        #expect(try await Self.builds(in: folder.path).map(\.status) == [.interrupted])
        #expect(try await Self.failedEvents(in: folder.path).isEmpty)
        // The tools run in process groups of their own: the group's SIGTERM did not reach them, so the actions
        // running then finished (or were ended by the service), none ended by that signal.
        let store = try await Store.open(at: folder.path + "/store")
        let first = try #require(try await Self.builds(in: folder.path).first)
        let ended = try await store.events(run: first.id).compactMap(\.error)
        #expect(!ended.contains { $0.contains("signal 15") }, "\(ended)")

        try await Self.completesTheNight(folder.path)
    }

    @Test func `a database that lost its -wal is refused, named by fsck and rebuilt from the run logs; nothing runs again`() async throws {
        // The service keeps the database open, so what its nights wrote is in `acervo.sqlite-wal`; a backup that
        // copies only `acervo.sqlite` (or a disk that loses the -wal) gives a database with no tables.
        let folder = TemporaryFolder()
        try copyExampleProject(into: folder.path)
        let service = try ServeProcess(in: folder.path, ["--stop-grace", "10"])
        #expect(try await service.waitForLog("build ended"), "\(service.logged)")
        let before = try await acervoOffPool(["cache", "stats", "--json"], in: folder.path)
        let entries = try #require(((try JSONSerialization.jsonObject(with: Data(before.stdout.utf8)) as? [String: Any])?["total"] as? [String: Any])?["entries"] as? Int)
        kill(service.pid, SIGKILL)
        _ = try await service.waitForExit()
        let database = folder.path + "/store/acervo.sqlite"
        #expect(FileManager.default.fileExists(atPath: database + "-wal"))
        for suffix in ["-wal", "-shm"] { try FileManager.default.removeItem(atPath: database + suffix) }

        let status = try await acervoOffPool(["status"], in: folder.path)
        #expect(status.status == 2 && status.stderr.contains("has no tables") && status.stderr.contains("acervo fsck --repair"), "\(status.stderr)")
        let check = try await acervoOffPool(["fsck"], in: folder.path)
        #expect(check.status == 1 && check.stdout.contains("has no tables"), "\(check.stdout)\(check.stderr)")
        let repair = try await acervoOffPool(["fsck", "--repair", "--json"], in: folder.path)
        #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
        let report = try decodeJSON(FsckReport.self, repair.stdout)
        #expect(report.recovery?.resultsFromLogs == entries, "every result comes back: \(String(describing: report.recovery))")

        let build = try await acervoOffPool(["build", "--json"], in: folder.path)
        #expect(build.status == 0, "\(build.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(build.stdout.utf8)) as? [String: Any])
        #expect(summary["executed"] as? Int == 0, "nothing is paid again: \(build.stdout)")
    }

    @Test func `SIGKILL in the middle of a night: the restart closes the dead run and builds the night once`() async throws {
        let folder = try await Self.project()
        let service = try ServeProcess(in: folder.path, ["--stop-grace", "10"])
        #expect(try await service.waitForLog("build starting"), "\(service.logged)")
        try await Task.sleep(for: .seconds(1))
        kill(service.pid, SIGKILL)
        _ = try await service.waitForExit()
        #expect(try await Self.builds(in: folder.path).map(\.status) == [.running], "a killed process cannot close its run")

        try await Self.completesTheNight(folder.path)
    }
}
