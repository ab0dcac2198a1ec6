import AcervoApp
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// The service through HTTP on 127.0.0.1: the JSON API, the dashboard's pages, /metrics, health, shutdown.
@Suite(.serialized) struct ServiceTests {
    /// Starts a build through the API (anonymous loopback admin, with the CSRF token) and waits for it.
    private func build(_ running: RunningService) async throws -> BuildAttempt {
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        let answer = try await request(.POST, running.baseURL + "/api/builds", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")])
        #expect(answer.status == 202, "\(answer.body)")
        return try #require(await running.service.coordinator.lastAttemptAfterRunning())
    }

    private func jsonObject(_ text: String) throws -> NSObject {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSObject)
    }

    @Test func `the JSON API answers in the CLI's --json shapes, and 409 while another build holds the store`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project)
        let attempt = try await build(running)
        #expect(attempt.exitStatus == .success)
        let run = try #require(attempt.outcome?.summary.run)

        let apiRuns = try await request(.GET, running.baseURL + "/api/runs")
        #expect(apiRuns.headers["Content-Type"].first == "application/json; charset=utf-8")
        let cliRuns = try await acervoOffPool(["runs", "--store", project.store, "--rules", project.rules, "--json"])
        #expect(try jsonObject(apiRuns.body) == jsonObject(cliRuns.stdout))
        let apiRun = try await request(.GET, running.baseURL + "/api/runs/\(run)")
        let cliRun = try await acervoOffPool(["runs", "show", run, "--store", project.store, "--rules", project.rules, "--json"])
        #expect(try jsonObject(apiRun.body) == jsonObject(cliRun.stdout))
        let apiSnapshots = try await request(.GET, running.baseURL + "/api/snapshots")
        let cliSnapshots = try await acervoOffPool(["kb", "list", "--store", project.store, "--rules", project.rules, "--json"])
        #expect(try jsonObject(apiSnapshots.body) == jsonObject(cliSnapshots.stdout))
        let apiCache = try await request(.GET, running.baseURL + "/api/cache")
        let cliCache = try await acervoOffPool(["cache", "stats", "--store", project.store, "--rules", project.rules, "--json"])
        #expect(try jsonObject(apiCache.body) == jsonObject(cliCache.stdout))
        let apiCost = try await request(.GET, running.baseURL + "/api/cost")
        let cliCost = try await acervoOffPool(["cost", "--no-projection", "--store", project.store, "--rules", project.rules, "--json"])
        #expect(try jsonObject(apiCost.body) == jsonObject(cliCost.stdout))
        #expect(try await request(.GET, running.baseURL + "/api/cost?runs=0").status == 400)

        let status = try #require(try await request(.GET, running.baseURL + "/api/status").json() as? [String: Any])
        let report = try #require(status["status"] as? [String: Any])
        #expect((report["knowledgeBase"] as? [String: Any])?["documents"] as? Int == 2)
        #expect((status["lastAttempt"] as? [String: Any])?["trigger"] as? String == "manual")
        #expect(status["build"] == nil && status["nextBuild"] == nil, "no schedule, nothing running")

        #expect(try await request(.GET, running.baseURL + "/api/runs/r-nope").status == 404)
        #expect(try await request(.GET, running.baseURL + "/api/runs?limit=0").status == 400)

        // Another process holds the store: 409, naming it.
        let holder = try StoreLockHolder(store: project.store)
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        let refused = try await request(.POST, running.baseURL + "/api/builds", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")])
        holder.stop()
        #expect(refused.status == 409)
        #expect(refused.body.contains("pid \(holder.pid)"), "\(refused.body)")
        try await running.stop()
    }

    /// Every field name Acervo prints or serves is lowerCamelCase (docs/api.md); maps keyed by data (lesson ids,
    /// processors, attributes, prices' providers and units, usage) are data, not names, and stored summaries
    /// are objects, not strings of JSON.
    static func styleProblems(_ value: Any, path: String = "") -> [String] {
        let dataMaps: Set<String> = ["attributes", "usage", "metadata", "inputs", "outputs", "files", "params", "prices", "processors",
                                     "components", "salvagedRows", "outputIndex"]
        var problems: [String] = []
        if let object = value as? [String: Any] {
            for (key, child) in object {
                if key.first?.isLowercase != true || key.contains("_") || key.contains("-") { problems.append("\(path).\(key)") }
                if key == "summary", let text = child as? String, text.hasPrefix("{") { problems.append("\(path).summary is JSON in a string") }
                if !dataMaps.contains(key) { problems += styleProblems(child, path: path + "." + key) }
            }
        } else if let array = value as? [Any] {
            for child in array { problems += styleProblems(child, path: path + "[]") }
        }
        return problems
    }

    @Test func `every JSON the API serves and the CLI prints names its fields in one style`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project)
        let attempt = try await build(running)
        let run = try #require(attempt.outcome?.summary.run)
        var answers: [String: String] = [:]
        for path in ["/api/status", "/api/runs", "/api/runs/\(run)", "/api/cache", "/api/cost", "/api/snapshots", "/api/session"] {
            answers[path] = try await request(.GET, running.baseURL + path).body
        }
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        answers["POST /api/gc"] = try await request(.POST, running.baseURL + "/api/gc?apply=0", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")]).body
        #expect(try await request(.POST, running.baseURL + "/api/gc?apply=yes", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")]).status == 400)
        try await running.stop()
        let store = ["--store", project.store, "--rules", project.rules, "--json"]
        for command in [["build"], ["status"], ["runs"], ["runs", "show", run], ["plan"], ["why", "01-inicio/01-bienvenida"],
                        ["trace", "01-inicio/01-bienvenida"], ["cache", "stats"], ["cost"], ["kb", "list"], ["kb", "show"], ["fsck"], ["gc"]] {
            answers["acervo " + command.joined(separator: " ")] = try await acervoOffPool(command + store).stdout
        }
        for (source, text) in answers {
            let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            #expect(Self.styleProblems(value).isEmpty, "\(source): \(Self.styleProblems(value))")
        }
        let runsText = try #require(answers["/api/runs"])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(runsText.utf8)) as? [[String: Any]])
        #expect(runs.first?["summary"] is [String: Any], "a run's summary is an object")
    }

    @Test func `every dashboard page shows what the store holds, with course text escaped`() async throws {
        let project = try TinyProject()
        // A lesson whose title is markup: shown, never run.
        try FileManager.default.createDirectory(atPath: project.root + "/course/01-inicio/03-script", withIntermediateDirectories: true)
        try "title: \"<script>alert('x')</script> & más\"\n".write(toFile: project.root + "/course/01-inicio/03-script/lesson.yaml",
                                                                 atomically: true, encoding: .utf8)
        let running = try await RunningService.start(project)
        let first = try #require(try await build(running).outcome?.summary)
        try FileManager.default.createDirectory(atPath: project.root + "/course/02-funciones/01-def", withIntermediateDirectories: true)
        let second = try #require(try await build(running).outcome?.summary)

        let overview = try await request(.GET, running.baseURL + "/")
        #expect(overview.status == 200)
        #expect(overview.headers["Content-Type"].first == "text/html; charset=utf-8")
        #expect(overview.body.contains("<a href=\"/kb\">4 documents</a>"))
        #expect(overview.body.contains(second.run))
        #expect(overview.body.contains("not scheduled"))
        #expect(overview.body.contains("<svg"))
        #expect(overview.body.contains("Build now"))

        let runs = try await request(.GET, running.baseURL + "/runs")
        #expect(runs.body.contains(first.run) && runs.body.contains(second.run))

        let run = try await request(.GET, running.baseURL + "/runs/\(second.run)")
        #expect(run.body.contains("executed 1") && run.body.contains("hits 3"), "one new lesson, three reused")
        #expect(run.body.contains("02-funciones/01-def"))

        let lesson = try await request(.GET, running.baseURL + "/lesson?item=01-inicio%2F03-script")
        #expect(lesson.status == 200)
        #expect(!lesson.body.contains("<script>alert"))
        #expect(lesson.body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; más"))
        #expect(lesson.body.contains("document.markdown"))

        let snapshots = try await request(.GET, running.baseURL + "/snapshots")
        let digests = snapshots.body.matches(of: /option value="(sha256:[0-9a-f]{64})"/).map { String($0.1) }
        #expect(Set(digests).count == 2)
        let old = try #require(second.snapshot == digests.first ? digests.last : digests.first)
        let diff = try await request(.GET, running.baseURL + "/diff?old=\(old)&new=latest")
        #expect(diff.body.contains("Added (1)") && diff.body.contains("02-funciones/01-def"), "\(diff.body)")

        let search = try await request(.GET, running.baseURL + "/search?q=variables")
        #expect(search.body.contains("01-inicio/02-variables"))
        let cache = try await request(.GET, running.baseURL + "/cache")
        #expect(cache.body.contains("document.markdown"))

        #expect(try await request(.GET, running.baseURL + "/runs/r-nope").status == 404)
        #expect(try await request(.GET, running.baseURL + "/lesson?item=nope%2Fnope").status == 404)
        try await running.stop()
    }

    @Test func `metrics count builds and actions, and describe the store`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project)
        _ = try await build(running)
        _ = try await build(running)
        let metrics = try await request(.GET, running.baseURL + "/metrics")
        #expect(metrics.headers["Content-Type"].first?.hasPrefix("text/plain; version=0.0.4") == true)
        let lines = Set(metrics.body.split(separator: "\n").map(String.init))
        #expect(lines.contains("acervo_builds_total{status=\"ok\"} 2"), "\(metrics.body)")
        #expect(lines.contains("acervo_actions_total{rule=\"document\",resolution=\"executed\"} 2"))
        #expect(lines.contains("acervo_actions_total{rule=\"document\",resolution=\"hit\"} 2"))
        #expect(lines.contains("acervo_knowledge_base_documents 2.0"))
        #expect(lines.contains("acervo_build_duration_seconds_count 2"))
        #expect(lines.contains("acervo_last_build_success 1.0"))
        #expect(lines.contains("acervo_cache_entries{processor=\"document.markdown\"} 2.0"))
        let lastSuccess = try #require(lines.first { $0.hasPrefix("acervo_last_success_timestamp_seconds ") })
        #expect((Double(lastSuccess.split(separator: " ")[1]) ?? 0) > Date().timeIntervalSince1970 - 600)
        try await running.stop()
    }

    @Test func `a secret set in the environment appears in no page, API answer, metric or log line`() async throws {
        let project = try TinyProject()
        let secrets = ["ACERVO_ADMIN_TOKEN": "adm-7c1d0f5e9a-secret", "ACERVO_VIEWER_TOKEN": "view-3b8e2a6d4c-secret",
                       "OPENAI_API_KEY": "sk-test-5e0c8f1a2b", "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T000/B000/xyzsecret"]
        let logs = LogLines()
        let running = try await RunningService.start(project, variables: secrets, logs: logs)
        let admin = bearer(secrets["ACERVO_ADMIN_TOKEN"]!)
        #expect(try await request(.POST, running.baseURL + "/api/builds", headers: [admin]).status == 202)
        let attempt = try #require(await running.service.coordinator.lastAttemptAfterRunning())
        let run = try #require(attempt.outcome?.summary.run)
        var bodies: [String] = []
        for path in ["/", "/runs", "/runs/\(run)", "/lesson?item=01-inicio%2F01-bienvenida", "/snapshots", "/cache", "/search?q=variables",
                     "/api/status", "/api/runs", "/api/runs/\(run)", "/api/cache", "/api/cost", "/api/snapshots", "/api/session", "/metrics", "/healthz", "/readyz",
                     "/nowhere"] {
            bodies.append(try await request(.GET, running.baseURL + path, headers: [admin]).body)
            bodies.append(try await request(.GET, running.baseURL + path, headers: [basic("wrong-" + secrets["ACERVO_ADMIN_TOKEN"]!)]).body)
        }
        try await running.stop()
        #expect(logs.all.contains { $0.contains("build ended") && $0.contains("run=\(run)") }, "\(logs.all)")
        for (name, value) in secrets {
            for body in bodies { #expect(!body.contains(value), "\(name) appeared in an answer") }
            for line in logs.all { #expect(!line.contains(value), "\(name) appeared in the log: \(line)") }
        }
    }

    @Test func `an admin rebuilds a rule, collects garbage and syncs from the API and the dashboard`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project)
        _ = try await build(running)
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        let csrf = ("X-CSRF-Token", session["csrfToken"] ?? "")

        let refreshed = try await request(.POST, running.baseURL + "/api/builds?refresh=document", headers: [csrf])
        #expect(refreshed.status == 202)
        let attempt = try #require(await running.service.coordinator.lastAttemptAfterRunning())
        #expect(attempt.outcome?.summary.executed == 2, "both documents recomputed")
        let unknown = try await request(.POST, running.baseURL + "/api/builds?refresh=documnt", headers: [csrf])
        #expect(unknown.status == 400 && unknown.body.contains("no rule `documnt`"))

        let gc = try #require(try await request(.POST, running.baseURL + "/api/gc", headers: [csrf]).json() as? [String: Any])
        #expect(gc["applied"] as? Bool == false)
        let sync = try await request(.POST, running.baseURL + "/api/sync", headers: [csrf])
        #expect(sync.status == 400, "the sink is local: nothing to sync to (\(sync.body))")

        let cache = try await request(.GET, running.baseURL + "/cache")
        #expect(cache.body.contains("<option value=\"document\">document</option>"))
        let form = try await request(.POST, running.baseURL + "/gc", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                     body: "csrf=\(session["csrfToken"] ?? "")&apply=0")
        #expect(form.status == 200 && form.body.contains("What gc would free") && form.body.contains("<dt>Freed objects</dt>"), "in words: \(form.body)")
        #expect(!form.body.contains("freedObjects") && !form.body.contains("{\""), "never raw JSON: \(form.body)")
        try await running.stop()
    }

    @Test func `health and readiness: ready only while the rules load; a build with broken rules says so`() async throws {
        let project = try TinyProject()
        let running = try await RunningService.start(project)
        #expect(try await request(.GET, running.baseURL + "/healthz").body == "ok\n")
        #expect(try await request(.GET, running.baseURL + "/readyz").status == 200)
        try project.writeRules(schedule: nil, broken: true)
        let notReady = try await request(.GET, running.baseURL + "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.body.contains("unknown key `rulez`"))
        // A build asked for with broken rules says the rules are broken, not that the rule does not exist.
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        let refused = try await request(.POST, running.baseURL + "/api/builds?refresh=document", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")])
        #expect(refused.status == 500 && refused.body.contains("the rules cannot be read") && refused.body.contains("rulez"), "\(refused.body)")
        try await running.stop()
    }

    @Test func `graceful shutdown lets a running build commit before the process ends`() async throws {
        let project = try TinyProject()
        for index in 1...40 {
            try FileManager.default.createDirectory(atPath: project.root + "/course/03-mas/\(String(format: "%02d", index))-extra",
                                                    withIntermediateDirectories: true)
        }
        let running = try await RunningService.start(project)
        let session = try #require(try await request(.GET, running.baseURL + "/api/session").json() as? [String: String])
        #expect(try await request(.POST, running.baseURL + "/api/builds", headers: [("X-CSRF-Token", session["csrfToken"] ?? "")]).status == 202)
        try await running.stop()
        // The service ended only after the build did: its run is recorded as finished, never left `running`.
        let runs = try await Workspace(storePath: project.store, rulesPath: project.rules).runs(limit: 10).filter { $0.command == .build }
        #expect(runs.count == 1)
        #expect(runs.first.map { $0.status == .ok || $0.status == .interrupted } == true, "\(runs)")
        #expect(runs.first?.endedAt != nil)
    }
}
