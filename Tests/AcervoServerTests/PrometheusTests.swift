import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// `/metrics` read by a real Prometheus (Debian's `prometheus`), and `docs/alerts.yaml` checked by `promtool`.
@Suite(.serialized) struct PrometheusTests {
    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    @Test func `docs/alerts.yaml is valid and its unit tests pass under promtool`() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.promtool) else { throw FixtureError("promtool is not installed: run scripts/setup") }
        let check = try run(Self.promtool, ["check", "rules", "alerts.yaml"], in: repositoryRoot + "/docs")
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 5 rules found"))
        let test = try run(Self.promtool, ["test", "rules", "alerts.test.yaml"], in: repositoryRoot + "/docs")
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
    }

    /// A real Prometheus scraping `running` with `docs/alerts.yaml` loaded, every second; stopped by `stop()`.
    final class Scraper: Sendable {
        let process = Process()
        let folder = TemporaryFolder()
        let port = Int.random(in: 20_000...59_000)

        init(target: Int, credentials: String? = nil) throws {
            guard FileManager.default.isExecutableFile(atPath: PrometheusTests.prometheus) else {
                throw FixtureError("prometheus is not installed: run scripts/setup")
            }
            try """
                global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
                rule_files: ["\(repositoryRoot)/docs/alerts.yaml"]
                scrape_configs:
                  - job_name: acervo
                    \(credentials.map { "authorization: { credentials: \($0) }" } ?? "")
                    static_configs: [{ targets: ["127.0.0.1:\(target)"] }]
                """.write(toFile: folder.path + "/prometheus.yml", atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: PrometheusTests.prometheus)
            process.arguments = ["--config.file=" + folder.path + "/prometheus.yml", "--storage.tsdb.path=" + folder.path + "/data",
                                 "--web.listen-address=127.0.0.1:\(port)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// The samples of an instant query (`[]` when it has none), or nil while Prometheus does not answer.
        func query(_ expression: String) async -> [[String: Any]]? {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
            guard let answer = try? await request(.GET, "http://127.0.0.1:\(port)/api/v1/query?query=" + encoded), answer.status == 200,
                  let object = try? answer.json() as? [String: Any], let data = object["data"] as? [String: Any] else { return nil }
            return data["result"] as? [[String: Any]]
        }
    }

    @Test func `on a fresh store no alert goes pending while the first build runs`() async throws {
        let folder = TemporaryFolder()
        try await offPool {
            try copyExampleProject(into: folder.path)
            let lesson = folder.path + "/examples/course/03-extra/01-largo"
            try FileManager.default.createDirectory(atPath: lesson, withIntermediateDirectories: true)
            try makeSlideVideo(at: lesson + "/largo.mp4", seconds: 60)
        }
        // Prometheus first, already scraping the service's port, so it sees the first build from its start: the
        // example's schedule, on a fresh store, starts one as soon as the service starts.
        let port = Int.random(in: 20_000...59_000)
        let scraper = try Scraper(target: port)
        defer { scraper.stop() }
        for _ in 0..<600 where await scraper.query("up") == nil { try await Task.sleep(for: .milliseconds(100)) }
        let running = try await RunningService.start(TinyProject(rootOverride: folder.path), port: port)
        var building = false
        var evaluations = 0
        var pending: [[String: Any]] = []
        for _ in 0..<600 where evaluations < 6 {
            try await Task.sleep(for: .milliseconds(500))
            guard let running = await scraper.query("acervo_build_running"), let sample = running.first?["value"] as? [Any],
                  sample.last as? String == "1" else {
                if building { break }  // it ended
                continue
            }
            building = true
            // The success gauges have nothing to say yet: absent, not 0.
            #expect(await scraper.query("acervo_last_success_timestamp_seconds")?.isEmpty == true)
            #expect(await scraper.query("acervo_last_build_success")?.isEmpty == true)
            // What a fresh store's gauges could set off; `AcervoDown` is about scrapes (Prometheus started first
            // here, so it saw the port closed before the service listened), not about the store.
            pending += (await scraper.query("ALERTS") ?? []).filter { ($0["metric"] as? [String: Any])?["alertname"] as? String != "AcervoDown" }
            evaluations += 1
        }
        #expect(building, "the first build was seen running")
        #expect(evaluations >= 3, "the rules were evaluated while it ran")
        #expect(pending.isEmpty, "no alert, not even pending: \(pending)")
        try await running.stop()
    }

    @Test func `a real Prometheus scrapes /metrics with the viewer token and loads the alerts`() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.prometheus) else { throw FixtureError("prometheus is not installed: run scripts/setup") }
        let project = try TinyProject()
        let viewer = "prom-viewer-8d2f1c"
        let running = try await RunningService.start(project, variables: ["ACERVO_ADMIN_TOKEN": "prom-admin-4b7e9a", "ACERVO_VIEWER_TOKEN": viewer])
        #expect(try await request(.POST, running.baseURL + "/api/builds", headers: [bearer("prom-admin-4b7e9a")]).status == 202)
        _ = await running.service.coordinator.lastAttemptAfterRunning()

        let folder = TemporaryFolder()
        let port = Int.random(in: 20_000...59_000)
        try """
            global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
            rule_files: ["\(repositoryRoot)/docs/alerts.yaml"]
            scrape_configs:
              - job_name: acervo
                authorization: { credentials: \(viewer) }
                static_configs: [{ targets: ["127.0.0.1:\(running.port)"] }]
            """.write(toFile: folder.path + "/prometheus.yml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.prometheus)
        process.arguments = ["--config.file=" + folder.path + "/prometheus.yml", "--storage.tsdb.path=" + folder.path + "/data",
                             "--web.listen-address=127.0.0.1:\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let api = "http://127.0.0.1:\(port)/api/v1/query?query="
        /// The value of an instant query's first sample once it is `expected` (a busy machine may fail a scrape
        /// or two first), else the last value seen.
        func value(_ query: String, _ expected: String) async throws -> String? {
            var seen: String?
            for _ in 0..<600 {
                if let answer = try? await request(.GET, api + query), answer.status == 200,
                   let object = try? answer.json() as? [String: Any], let data = object["data"] as? [String: Any],
                   let result = data["result"] as? [[String: Any]], let sample = result.first?["value"] as? [Any] {
                    seen = sample.last as? String
                    if seen == expected { return seen }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return seen
        }
        #expect(try await value("up%7Bjob%3D%22acervo%22%7D", "1") == "1", "Prometheus could not scrape /metrics")
        #expect(try await value("acervo_builds_total%7Bstatus%3D%22ok%22%7D", "1") == "1")
        #expect(try await value("acervo_knowledge_base_documents", "2") == "2")
        #expect(try await value("acervo_actions_total%7Brule%3D%22document%22%2Cresolution%3D%22executed%22%7D", "2") == "2")
        let rules = try await request(.GET, "http://127.0.0.1:\(port)/api/v1/rules")
        #expect(rules.body.contains("AcervoNoSuccessfulBuild") && rules.body.contains("AcervoSyncFailing"))
        try await running.stop()
    }
}
