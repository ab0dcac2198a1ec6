import AcervoApp
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// Headless Chromium (Debian's `chromium`), run as root the way CI does: `--no-sandbox`.
enum Browser {
    static let binary = "/usr/bin/chromium"

    static func check() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw FixtureError("chromium is not installed: run scripts/setup") }
    }

    static let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars"]

    /// The DOM after Chromium loaded and laid out the page.
    static func dom(_ url: String) async throws -> String {
        let profile = TemporaryFolder()
        let outcome = try await offPool { try run(binary, flags + ["--user-data-dir=" + profile.path, "--dump-dom", url]) }
        guard outcome.status == 0 else { throw FixtureError("chromium failed on \(url): \(outcome.stderr.suffix(500))") }
        return outcome.stdout
    }

    /// A PNG of the page at a phone's width (or a desktop's).
    static func screenshot(_ url: String, to path: String, width: Int = 390, height: Int = 1100) async throws {
        let profile = TemporaryFolder()
        let outcome = try await offPool {
            try run(binary, flags + ["--user-data-dir=" + profile.path, "--window-size=\(width),\(height)", "--screenshot=" + path, url])
        }
        guard outcome.status == 0 else { throw FixtureError("chromium could not take a screenshot of \(url): \(outcome.stderr.suffix(500))") }
    }
}

@Suite(.serialized) struct BrowserTests {
    @Test func `every dashboard page loads in headless Chromium and shows the example course`() async throws {
        try Browser.check()
        let directory = TemporaryFolder()
        try copyExampleProject(into: directory.path)
        let project = TinyProject(rootOverride: directory.path)
        let running = try await RunningService.start(project)
        // The example rules have a schedule and the store is new: the night counts as missed and builds now.
        let first = try #require(await running.service.coordinator.firstAttempt())
        #expect(first.trigger == .missedNight && first.exitStatus == .success, "\(first.error ?? "")")
        // A lesson is retitled; a build by hand picks it up.
        let lessonFile = directory.path + "/examples/course/01-fundamentos/02-variables/lesson.yaml"
        let lessonYAML = try String(contentsOfFile: lessonFile, encoding: .utf8)
        try lessonYAML.replacingOccurrences(of: "Variables y tipos de datos", with: "Variables, tipos y nombres")
            .write(toFile: lessonFile, atomically: true, encoding: .utf8)
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        #expect(try await request(.POST, running.baseURL + "/api/builds", headers: [("X-CSRF-Token", session["csrf_token"] ?? "")]).status == 202)
        let second = try #require(await running.service.coordinator.lastAttemptAfterRunning()?.outcome?.summary)
        let base = running.baseURL

        let overview = try await Browser.dom(base + "/")
        #expect(overview.contains("<title>Overview · Acervo</title>"))
        #expect(overview.contains("<b>5 documents</b>"))
        #expect(overview.contains("America/Sao_Paulo") && overview.contains("every day at 03:00"))
        #expect(overview.components(separatedBy: "<rect ").count - 1 == 4, "two builds, two bars each")
        #expect(overview.contains(">Build now</button>"))

        let runs = try await Browser.dom(base + "/runs")
        #expect(runs.contains(first.outcome?.summary.run ?? "?") && runs.contains(second.run))

        let run = try await Browser.dom(base + "/runs/\(second.run)")
        #expect(run.contains("failed 0 · executed 1 · skipped 2 · hits 37"), "only the retitled lesson's document ran (two rules do not apply to a lesson without materials)")
        let firstRow = try #require(run.firstMatch(of: /<tbody><tr><td class="(\w+)">/)?.1)
        #expect(firstRow == "executed", "what ran is listed before the hits")

        let lesson = try await Browser.dom(base + "/lesson?item=01-fundamentos%2F02-variables")
        #expect(lesson.contains("<h1>Variables, tipos y nombres</h1>"))
        #expect(lesson.contains("taxonomy.classify") && lesson.contains("document.markdown"))
        #expect(lesson.contains("<code>school=tecnologia</code>"))

        let snapshots = try await Browser.dom(base + "/snapshots")
        let digests = Set(snapshots.matches(of: /option value="(sha256:[0-9a-f]{64})"/).map { String($0.1) })
        #expect(digests.count == 2)
        #expect(digests.contains("sha256:f929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4"), "the example's first knowledge base")
        let diffURL = base + "/diff?old=sha256:f929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4&new=latest"
        let diff = try await Browser.dom(diffURL)
        #expect(diff.contains("Changed (1)") && diff.contains("01-fundamentos/02-variables</a> — document, title"), "\(diff)")

        let search = try await Browser.dom(base + "/search?q=nombres+descriptivos")
        #expect(search.contains("01-fundamentos/02-variables"))
        let cache = try await Browser.dom(base + "/cache")
        #expect(cache.contains("<td>tesseract</td>") && cache.contains("<td>ffprobe</td>"))
        // The example pays for nothing; the page says so, with where the prices come from and the catalog's projection.
        let cost = try await Browser.dom(base + "/cost?projection=1")
        #expect(cost.contains("Nothing paid yet.") && cost.contains("<td>google.vision</td><td class=\"num\">2026-11</td>"), "\(cost)")
        #expect(cost.contains("5 lessons: $0 built, $0 ($0–$0) for 0 paid actions still to run"), "\(cost)")

        // Screenshots for the README (`ACERVO_SCREENSHOTS=docs/screenshots scripts/test --filter BrowserTests` refreshes them).
        let shots = ProcessInfo.processInfo.environment["ACERVO_SCREENSHOTS"] ?? directory.path
        for (name, url, width) in [("overview", base + "/", 390), ("run", base + "/runs/\(second.run)", 1100), ("diff", diffURL, 900)] {
            let path = shots + "/\(name).png"
            try await Browser.screenshot(url, to: path, width: width, height: name == "overview" ? 900 : 700)
            let bytes = try #require(FileManager.default.contents(atPath: path))
            #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && bytes.count > 10_000, "\(name).png")
        }
        try await running.stop()
    }

    @Test func `a running build shows its live progress, and the page reloads itself until it ends`() throws {
        let running = BuildCoordinator.Running(
            trigger: .schedule, startedAt: Date(timeIntervalSince1970: 1_795_700_000),
            progress: LiveProgress.Snapshot(run: "r1795700000000-abcd", items: 5, rules: ["media", "document"], decided: 7, executed: 3, hits: 3,
                                            failed: 1, skipped: 0, recentFailures: ["01-a/01-b media: ffprobe <failed>"]))
        let html = liveSection(running).text
        #expect(html.contains("<code>r1795700000000-abcd</code>"))
        #expect(html.contains("<b>7</b> of 10 actions decided — executed 3, hits 3, failed 1, skipped 0"))
        #expect(html.contains("<progress max=\"10\" value=\"7\""))
        #expect(html.contains("ffprobe &lt;failed&gt;"))
        #expect(page("Overview", refreshSeconds: 3, liveSection(running)).text.contains("<meta http-equiv=\"refresh\" content=\"3\">"))
    }
}

extension BuildCoordinator {
    /// Waits for the first attempt to end.
    func firstAttempt() async -> BuildAttempt? {
        for _ in 0..<12_000 {
            if let lastAttempt, running == nil { return lastAttempt }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}
