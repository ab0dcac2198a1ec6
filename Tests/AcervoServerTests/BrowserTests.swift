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
    /// A secret the service knows: whatever quotes it (here a lesson's title), no page may show it.
    static let secret = "sk-acervo-browser-7f3e9d2c"

    @Test func `every dashboard page loads in headless Chromium, reads as words at desktop and phone width, and shows no secret`() async throws {
        try Browser.check()
        let directory = TemporaryFolder()
        try copyExampleProject(into: directory.path)
        let project = TinyProject(rootOverride: directory.path)
        let running = try await RunningService.start(project, variables: ["OPENAI_API_KEY": Self.secret])
        // The example rules have a schedule and the store is new: the night counts as missed and builds now.
        let first = try #require(await running.service.coordinator.firstAttempt())
        #expect(first.trigger == .missedNight && first.exitStatus == .success, "\(first.error ?? "")")
        // A lesson is retitled (quoting the secret), another's video breaks; a build by hand picks both up.
        let lessonFile = directory.path + "/examples/course/01-fundamentos/02-variables/lesson.yaml"
        let lessonYAML = try String(contentsOfFile: lessonFile, encoding: .utf8)
        try lessonYAML.replacingOccurrences(of: "Variables y tipos de datos", with: "Variables, tipos y nombres \(Self.secret)")
            .write(toFile: lessonFile, atomically: true, encoding: .utf8)
        try Data("this is not a video".utf8).write(to: URL(fileURLWithPath: directory.path + "/examples/course/01-fundamentos/01-introduccion/01-introduccion.mp4"))
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        #expect(try await request(.POST, running.baseURL + "/api/builds", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")]).status == 202)
        let second = try #require(await running.service.coordinator.lastAttemptAfterRunning()?.outcome?.summary)
        #expect(second.failed == 3 && second.problems.count == 1, "\(second.problems)")
        let base = running.baseURL
        var pages: [String: String] = [:]
        func load(_ name: String, _ path: String) async throws -> String {
            let dom = try await Browser.dom(base + path)
            pages[name] = dom
            return dom
        }

        let overview = try await load("overview", "/")
        #expect(overview.contains("<title>Overview · Acervo</title>"))
        #expect(overview.contains("<a href=\"/kb\">5 documents</a>"), "the knowledge base card leads to its documents")
        #expect(overview.contains("America/Sao_Paulo") && overview.contains("every day at 03:00"))
        #expect(overview.contains("−03:00"), "times in the schedule's zone, with the offset")
        #expect(overview.contains("<h2>The last 2 builds</h2>"))
        // A bar per build, failed ones too, each in a colour the legend names.
        let fills = overview.matches(of: /<rect [^>]*fill="(#[0-9a-f]{6})"/).map { String($0.1) }
        #expect(fills == [BuildChart.colour(.ok), BuildChart.colour(.failed)], "\(fills)")
        for fill in Set(fills) { #expect(overview.contains("<i class=\"swatch\" style=\"background:\(fill)\"></i>")) }
        #expect(overview.contains("nothing cost money") && !overview.contains("max $0.01"))
        #expect(overview.contains("1 lesson problem in run") && overview.contains("01-fundamentos/01-introduccion"))
        #expect(overview.contains(">Build now</button>"))

        let runs = try await load("runs", "/runs")
        #expect(runs.contains(first.outcome?.summary.run ?? "?") && runs.contains(second.run))

        let run = try await load("run", "/runs/\(second.run)")
        #expect(!run.contains("{&quot;") && !run.contains("{\""), "no raw JSON")
        #expect(run.contains("executed \(second.executed) · hits \(second.hits) · failed 3 · skipped \(second.skipped)"), "the header says what the summary says")
        #expect(run.contains("failed: audio, frames, media; not run: class, document, ocr"))
        #expect(run.contains("the video `01-introduccion.mp4` cannot be read"))
        #expect(run.contains("<td class=\"text\">"), "the Why column wraps")

        let failedLesson = try await load("lesson-failed", "/lesson?item=01-fundamentos%2F01-introduccion")
        #expect(failedLesson.contains("The last build failed this lesson") && failedLesson.contains("keeps its previous document"))
        let lesson = try await load("lesson", "/lesson?item=01-fundamentos%2F02-variables")
        #expect(lesson.contains("<h1>Variables, tipos y nombres [redacted]</h1>"))
        #expect(lesson.contains("<table class=\"front-matter\">") && lesson.contains("<tr><th>course</th><td>Python desde cero</td></tr>"))
        #expect(!lesson.contains("<p>--- course"), "front matter as a table, not a paragraph")
        #expect(lesson.contains("taxonomy.classify") && lesson.contains("document.markdown"))

        let knowledgeBase = try await load("kb", "/kb")
        #expect(knowledgeBase.contains("5 documents of 5 in the latest snapshot"))
        #expect(knowledgeBase.contains("<a href=\"/lesson?item=02-dados-em-python%2F01-listas\">"))
        let portuguese = try await Browser.dom(base + "/kb?language=pt")
        #expect(portuguese.contains("2 documents of 5") && !portuguese.contains("01-fundamentos/03-funciones"), "filtered by attribute")

        let snapshots = try await load("snapshots", "/snapshots")
        let digests = Set(snapshots.matches(of: /option value="(sha256:[0-9a-f]{64})"/).map { String($0.1) })
        #expect(digests.count == 2)
        #expect(digests.contains("sha256:f929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4"), "the example's first knowledge base")
        #expect(snapshots.contains("/kb?snapshot=sha256%3Af929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4")
                || snapshots.contains("/kb?snapshot=sha256:f929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4"), "each snapshot leads to its documents")
        let diffPath = "/diff?old=sha256:f929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4&new=latest"
        let diff = try await load("diff", diffPath)
        #expect(diff.contains("Changed (1)") && diff.contains("01-fundamentos/02-variables</a> — document, title"), "\(diff)")

        let search = try await load("search", "/search?q=nombres+descriptivos")
        #expect(search.contains("value=\"nombres descriptivos\""), "the query is echoed as typed")
        #expect(search.contains("01-fundamentos/02-variables"))
        let cache = try await load("cache", "/cache")
        #expect(cache.contains("<td>tesseract</td>") && cache.contains("<td>ffprobe</td>"))
        #expect(cache.contains("there is nothing to sync") && !cache.contains("action=\"/sync\""), "no Sync button with a local sink")
        // The example pays for nothing; the page says so, with the prices, where they come from, and the projection.
        let cost = try await load("cost", "/cost?projection=1")
        #expect(cost.contains("Nothing paid yet."))
        #expect(cost.contains("<td>google.vision</td>") && cost.contains("https://cloud.google.com/vision/pricing"), "prices link to their page")
        #expect(cost.contains("per thousand images: default $1.5"), "the prices themselves")
        #expect(cost.contains("5 lessons: $0 built"), "\(cost)")
        let planIt = try await Browser.dom(base + "/cost")
        #expect(planIt.contains("<span class=\"muted\">Catalog, projected</span><a href=\"/cost?projection=1\">Plan it</a>"))

        let missing = try await request(.GET, base + "/no-such-page")
        #expect(missing.status == 404 && missing.body.contains("There is no page `/no-such-page`") && missing.body.contains("<a href=\"/\">Overview</a>"))
        pages["notfound"] = try await Browser.dom(base + "/no-such-page")
        let api = try await request(.GET, base + "/api/no-such-endpoint")
        #expect(api.status == 404 && api.body.contains("\"error\""))
        #expect(try await request(.GET, base + "/api/runs?limit=abc").status == 400)
        #expect(try await request(.GET, base + "/runs/\(second.run)?hits=abc").status == 400)

        for (name, dom) in pages {
            #expect(!dom.contains(Self.secret), "\(name) shows a secret")
            #expect(!dom.contains("missed_night"), "\(name): triggers in words")
            #expect(!dom.contains("AcervoServer.HTML") && !dom.contains("{&quot;") && !dom.contains("[\"") , "\(name): no Swift values or raw JSON")
        }

        // Screenshots at a phone's and a desktop's width, for people to look at and for the README
        // (`ACERVO_SCREENSHOTS=docs/screenshots swift test --filter BrowserTests` refreshes them).
        let shots = ProcessInfo.processInfo.environment["ACERVO_SCREENSHOTS"] ?? directory.path
        let paths = ["overview": "/", "runs": "/runs", "run": "/runs/\(second.run)", "lesson": "/lesson?item=01-fundamentos%2F01-introduccion",
                     "kb": "/kb", "snapshots": "/snapshots", "diff": diffPath, "search": "/search?q=nombres+descriptivos", "cache": "/cache",
                     "cost": "/cost?projection=1", "notfound": "/no-such-page"]
        for (name, path) in paths {
            for (suffix, width) in [("phone", 390), ("desktop", 1200)] {
                let file = shots + "/\(name)-\(suffix).png"
                try await Browser.screenshot(base + path, to: file, width: width, height: suffix == "phone" ? 1400 : 900)
                let bytes = try #require(FileManager.default.contents(atPath: file))
                #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && bytes.count > 10_000, "\(file)")
            }
        }
        try await running.stop()
    }

    @Test func `a running build shows its live progress, and the page reloads itself until it ends`() throws {
        let running = BuildCoordinator.Running(
            trigger: .schedule, startedAt: Date(timeIntervalSince1970: 1_795_700_000),
            progress: LiveProgress.Snapshot(run: "r1795700000000-abcd", items: 5, rules: ["media", "document"], decided: 7, executed: 3, hits: 3,
                                            failed: 1, skipped: 0, recentFailures: ["01-a/01-b media: ffprobe <failed>"]))
        let time = TimeDisplay(timeZone: TimeZone(identifier: "America/Sao_Paulo")!)
        let html = liveSection(running, time: time).text
        #expect(html.contains("<code class=\"id\">r1795700000000-abcd</code>"))
        #expect(html.contains("nightly</span> build"))
        #expect(html.contains("<b>7</b> of 10 actions decided — executed 3, hits 3, failed 1, skipped 0"))
        #expect(html.contains("<progress max=\"10\" value=\"7\""))
        #expect(html.contains("ffprobe &lt;failed&gt;"))
        #expect(html.contains("2026-11-26 ") && html.contains("−03:00"))
        #expect(page("Overview", refreshSeconds: 3, liveSection(running, time: time)).text.contains("<meta http-equiv=\"refresh\" content=\"3\">"))
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
