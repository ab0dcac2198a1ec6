import AcervoApp
import AcervoEngine
import AcervoFakeServers
import AcervoRules
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// A real SMTP server (Debian's python3-aiosmtpd) on 127.0.0.1: STARTTLS and AUTH required, each message
/// written as JSON into a folder. Stopped by PID.
final class SMTPTestServer: Sendable {
    let folder = TemporaryFolder()
    let port: Int
    private let process: Process
    let user = "acervo"
    let password = "s3nha-do-smtp-42"
    var caFile: String { folder.path + "/cert.pem" }
    var url: String { "smtp://\(user):\(password)@localhost:\(port)" }

    init() throws {
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
                                                "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       in: folder.path)
        guard made.status == 0 else { throw FixtureError("openssl could not make a certificate (run scripts/setup): \(made.stderr)") }
        try FileManager.default.createDirectory(atPath: folder.path + "/mail", withIntermediateDirectories: true)
        guard FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/aiosmtpd") else {
            throw FixtureError("python3-aiosmtpd is not installed: run scripts/setup")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [repositoryRoot + "/Tests/Servers/smtp_server.py", folder.path + "/mail", folder.path + "/cert.pem",
                             folder.path + "/key.pem", user, password]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = Pipe()
        try process.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = Int(line) else { throw FixtureError("the SMTP server did not start: \(line)") }
        self.port = port
    }

    /// Every message received so far.
    var messages: [[String: Any]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path + "/mail")) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return names.compactMap { name in
            (try? Data(contentsOf: URL(fileURLWithPath: folder.path + "/mail/" + name)))
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

extension [String: Any] {
    /// A received message's body, decoded from base64.
    var mailBody: String {
        let data = self["data"] as? String ?? ""
        guard let split = data.range(of: "\r\n\r\n") ?? data.range(of: "\n\n") else { return "" }
        let encoded = data[split.upperBound...].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(encoded)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

@Suite(.serialized) struct NotificationTests {
    /// A lesson folder that resolves outside the course fails its lesson (and only it).
    private func addFailingLesson(_ project: TinyProject) throws {
        try FileManager.default.createSymbolicLink(atPath: project.root + "/course/01-inicio/03-fuera", withDestinationPath: "/usr")
    }

    private func notifyBlock(on events: String = "[failure, budget, shrink]") -> String {
        """
        
        notify:
          on: \(events)
          slack: { webhook: SLACK_WEBHOOK_URL }
          email: { to: [equipe@example.com, "suporte@example.com.br"], from: acervo@example.com }
          dashboard_url: https://acervo.example.com
        """
    }

    @Test func `a failed night goes to Slack as Block Kit and by e-mail through SMTP with STARTTLS and auth`() async throws {
        let project = try TinyProject()
        try addFailingLesson(project)
        try (try String(contentsOfFile: project.rules + "/pipeline.yaml", encoding: .utf8) + notifyBlock())
            .write(toFile: project.rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
        let slack = try await FakeSlack.start()
        let smtp = try SMTPTestServer()
        defer { smtp.stop() }
        let secrets = ["OPENAI_API_KEY": "sk-live-0a9b8c7d6e", "ACERVO_ADMIN_TOKEN": "adm-token-1f2e3d"]
        let logs = LogLines()
        let service = try AcervoService(storePath: project.store, rulesPath: project.rules,
                                        variables: secrets.merging(["SLACK_WEBHOOK_URL": slack.url, "ACERVO_SMTP_URL": smtp.url,
                                                                    "ACERVO_SMTP_CA_FILE": smtp.caFile]) { $1 },
                                        options: .init(port: 0, request: .init(jobs: 2)), logger: logs.logger)
        let attempt = await service.buildOnce()
        await slack.stop()
        #expect(attempt.exitStatus == .failedActions)
        let run = try #require(attempt.outcome?.summary.run)

        #expect(slack.violations.isEmpty, "\(slack.violations)")
        let message = try #require(slack.messages.first)
        #expect(slack.messages.count == 1)
        let blocks = try #require(message["blocks"] as? [[String: Any]])
        #expect((blocks.first?["text"] as? [String: Any])?["text"] as? String == "Acervo build finished with failures")
        let texts = blocks.compactMap { ($0["text"] as? [String: Any])?["text"] as? String }.joined(separator: "\n")
        #expect(texts.contains("failed 1"), "\(texts)")
        #expect(texts.contains("*Failures*\n• 01-inicio/03-fuera"), "\(texts)")
        let button = try #require(blocks.last?["elements"] as? [[String: Any]])
        #expect(button.first?["url"] as? String == "https://acervo.example.com/runs/\(run)")

        let mail = try #require(smtp.messages.first)
        #expect(smtp.messages.count == 1)
        #expect(mail["tls"] as? Bool == true && mail["authenticated"] as? Bool == true)
        #expect(mail["from"] as? String == "acervo@example.com")
        #expect(mail["to"] as? [String] == ["equipe@example.com", "suporte@example.com.br"])
        #expect((mail["data"] as? String)?.contains("Subject: Acervo build finished with failures") == true)
        let body = mail.mailBody
        #expect(body.contains("- 01-inicio/03-fuera: "), "\(body)")
        #expect(body.contains("Dashboard: https://acervo.example.com/runs/\(run)"))

        let metrics = String(decoding: service.metrics.exposition(), as: UTF8.self)
        #expect(metrics.contains("acervo_notifications_total{channel=\"slack\",status=\"sent\"} 1"))
        #expect(metrics.contains("acervo_notifications_total{channel=\"email\",status=\"sent\"} 1"))
        let everything = "\(message)" + (mail["data"] as? String ?? "") + body + logs.all.joined(separator: "\n")
        for secret in secrets.values + [smtp.password, slack.path] { #expect(!everything.contains(secret), "a secret left the service: \(secret)") }
    }

    @Test func `a Slack or SMTP server that is down or answers garbage does not fail the build`() async throws {
        let project = try TinyProject()
        try (try String(contentsOfFile: project.rules + "/pipeline.yaml", encoding: .utf8) + notifyBlock(on: "[summary]"))
            .write(toFile: project.rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
        for behaviour in [FakeSlack.Behaviour.garbage, .reset] {
            let slack = try await FakeSlack.start()
            slack.behave(behaviour)
            let logs = LogLines()
            // Nothing listens on the SMTP port: connections are refused.
            let service = try AcervoService(storePath: project.store, rulesPath: project.rules,
                                            variables: ["SLACK_WEBHOOK_URL": slack.url, "ACERVO_SMTP_URL": "smtp://u:p4ss@127.0.0.1:9",
                                                        "ACERVO_RETRY_BASE_SECONDS": "0.01"],
                                            options: .init(port: 0, request: .init(jobs: 2)), logger: logs.logger)
            let attempt = await service.buildOnce()
            await slack.stop()
            #expect(attempt.exitStatus == .success, "\(behaviour)")
            #expect(slack.posts == 3, "three attempts, then given up")
            let metrics = String(decoding: service.metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains("acervo_notifications_total{channel=\"slack\",status=\"failed\"} 1"))
            #expect(metrics.contains("acervo_notifications_total{channel=\"email\",status=\"failed\"} 1"))
            #expect(logs.all.contains { $0.contains("notification not delivered") && $0.contains("channel=slack") })
            #expect(!logs.all.contains { $0.contains(slack.path) || $0.contains("p4ss") }, "\(logs.all)")
        }
    }

    @Test func `a slow webhook never holds up the e-mail, and a dead one's refusal is said in words`() async throws {
        let project = try TinyProject()
        try (try String(contentsOfFile: project.rules + "/pipeline.yaml", encoding: .utf8) + notifyBlock(on: "[summary]"))
            .write(toFile: project.rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
        let smtp = try SMTPTestServer()
        defer { smtp.stop() }

        // Slack answers each post 6 s late (within the notifier's 10 s attempt): the e-mail goes out beside it.
        let slack = try await FakeSlack.start()
        slack.behave(.slow(seconds: 6))
        let service = try AcervoService(storePath: project.store, rulesPath: project.rules,
                                        variables: ["SLACK_WEBHOOK_URL": slack.url, "ACERVO_SMTP_URL": smtp.url,
                                                    "ACERVO_SMTP_CA_FILE": smtp.caFile],
                                        options: .init(port: 0, request: .init(jobs: 2)), logger: LogLines().logger)
        let build = Task { await service.buildOnce() }
        var answeredWhenMailArrived: Int?
        var looks = 0
        while answeredWhenMailArrived == nil, slack.answered < 1 || smtp.messages.isEmpty, looks < 6000 {
            looks += 1
            if !smtp.messages.isEmpty { answeredWhenMailArrived = slack.answered } else { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(await build.value.exitStatus == .success)
        await slack.stop()
        #expect(answeredWhenMailArrived == 0, "the e-mail went out while Slack's answer was still on its way, not after it")
        #expect(slack.messages.count == 1 && smtp.messages.count == 1)

        // Nothing listens on port 9 of 127.0.0.1: the webhook's connections are refused, and the log says so in words.
        let logs = LogLines()
        let dead = try AcervoService(storePath: project.store, rulesPath: project.rules,
                                     variables: ["SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T0/B0/dead", "ACERVO_SMTP_URL": smtp.url,
                                                 "ACERVO_SMTP_CA_FILE": smtp.caFile, "ACERVO_RETRY_BASE_SECONDS": "0.01"],
                                     options: .init(port: 0, request: .init(jobs: 2)), logger: logs.logger)
        #expect(await dead.buildOnce().exitStatus == .success)
        #expect(smtp.messages.count == 2, "the e-mail went out although Slack was down")
        let line = try #require(logs.all.first { $0.contains("notification not delivered") && $0.contains("channel=slack") }, "\(logs.all)")
        #expect(line.contains("the connection was refused: nothing is listening at that address"), "\(line)")
        #expect(!line.contains("errno") && !line.contains("error set") && !line.contains("/dead"), "\(line)")
    }

    @Test func `an interrupted night is told as interrupted, with what happens next`() throws {
        let project = try TinyProject()
        let workspace = Workspace(storePath: project.store, rulesPath: project.rules, variables: ["SLACK_WEBHOOK_URL": "https://hooks.slack.test/x"], log: { _ in })
        let notifier = try Notifier(settings: NotifySettings(slack: .init()), workspace: workspace, publicURL: nil,
                                    logger: LogLines().logger, metrics: ServiceMetrics())
        var summary = BuildSummary(run: "r1", items: 4)
        summary.executed = 5
        summary.skipped = 7
        summary.interrupted = true
        summary.interruptedActions = 3
        let now = Date()
        let attempt = BuildAttempt(trigger: .missedNight, startedAt: now, endedAt: now, outcome: BuildOutcome(summary: summary), error: nil,
                                   exitStatus: .interrupted)
        let notice = try #require(notifier.notice(for: attempt))
        #expect(notice.title == "Acervo build interrupted")
        #expect(notice.summary.contains("(missed night, run at start)"))
        #expect(notice.summary.contains("3 actions did not run") && notice.summary.contains("the next start completes the night"), "\(notice.summary)")
        #expect(!notice.summary.contains("finished with failures"))
    }

    @Test func `Slack's 429 and 500 are retried and the message arrives once`() async throws {
        let project = try TinyProject()
        try (try String(contentsOfFile: project.rules + "/pipeline.yaml", encoding: .utf8)
            + "\nnotify: { on: [summary], slack: { webhook: TEAM_SLACK } }\n").write(toFile: project.rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
        let slack = try await FakeSlack.start()
        slack.behave(.rateLimitFirst(1))
        let service = try AcervoService(storePath: project.store, rulesPath: project.rules,
                                        variables: ["TEAM_SLACK": slack.url, "ACERVO_RETRY_BASE_SECONDS": "0.01"],
                                        options: .init(port: 0, request: .init(jobs: 2)), logger: LogLines().logger)
        #expect(await service.buildOnce().exitStatus == .success)
        let metrics = String(decoding: service.metrics.exposition(), as: UTF8.self)
        #expect(metrics.contains("acervo_provider_requests_total{provider=\"Slack\",status=\"429\"} 1"), "\(metrics)")
        #expect(metrics.contains("acervo_provider_requests_total{provider=\"Slack\",status=\"200\"} 1"))
        #expect(metrics.contains("acervo_provider_retries_total{provider=\"Slack\"} 1"))
        slack.behave(.failFirst(4))
        #expect(await service.buildOnce().exitStatus == .success)
        await slack.stop()
        #expect(slack.messages.count == 2, "one message per build")
        let title = (slack.messages.first?["blocks"] as? [[String: Any]])?.first.flatMap { ($0["text"] as? [String: Any])?["text"] as? String }
        #expect(title == "Acervo nightly build: ok")
    }

    @Test func `which builds are told: failures, budget, a refused shrink, and summaries only when asked`() throws {
        let project = try TinyProject()
        let workspace = Workspace(storePath: project.store, rulesPath: project.rules, variables: ["SLACK_WEBHOOK_URL": "https://hooks.slack.test/x",
                                                                                              "OPENAI_API_KEY": "sk-abcdef123"], log: { _ in })
        let notifier = try Notifier(settings: NotifySettings(slack: .init()), workspace: workspace, publicURL: "http://kb.local",
                                    logger: LogLines().logger, metrics: ServiceMetrics())
        let now = Date()
        func attempt(_ trigger: BuildTrigger, _ status: AcervoApp.ExitStatus, error: String? = nil, shrink: Bool = false) -> BuildAttempt {
            BuildAttempt(trigger: trigger, startedAt: now, endedAt: now, outcome: nil, error: error, exitStatus: status, refusedShrink: shrink)
        }
        #expect(notifier.notice(for: attempt(.manual, .success)) == nil)
        #expect(notifier.notice(for: attempt(.schedule, .success)) == nil, "no summary unless asked")
        #expect(notifier.notice(for: attempt(.schedule, .usage, error: "rules: bad"))?.event == .failure)
        #expect(notifier.notice(for: attempt(.manual, .budgetReached))?.event == .budget)
        let shrink = try #require(notifier.notice(for: attempt(.schedule, .failedActions, error: "Hotmart GET /m: the catalog shrank from 4 to 1", shrink: true)))
        #expect(shrink.event == .shrink)
        #expect(shrink.title == "Acervo refused the catalog: it shrank too much")
        #expect(shrink.link == "http://kb.local")
        let leaky = try #require(notifier.notice(for: attempt(.schedule, .failedActions, error: "OpenAI said: bad key sk-abcdef123")))
        #expect(leaky.summary == "OpenAI said: bad key [redacted]")

        let summaries = try Notifier(settings: NotifySettings(events: [.summary], slack: .init()), workspace: workspace, publicURL: nil,
                                     logger: LogLines().logger, metrics: ServiceMetrics())
        #expect(summaries.notice(for: attempt(.schedule, .success))?.title == "Acervo nightly build: ok")
        #expect(summaries.notice(for: attempt(.schedule, .failedActions, error: "x"))?.event == .failure, "a failing night still says so")
        #expect(summaries.notice(for: attempt(.manual, .success)) == nil)
    }

    @Test func `a channel whose secret is not set stops the service from starting, naming the variable`() throws {
        let project = try TinyProject()
        try (try String(contentsOfFile: project.rules + "/pipeline.yaml", encoding: .utf8) + "\nnotify: { slack: { webhook: TEAM_SLACK } }\n")
            .write(toFile: project.rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
        #expect {
            _ = try AcervoService(storePath: project.store, rulesPath: project.rules, variables: [:], options: .init(port: 0), logger: LogLines().logger)
        } throws: { error in
            (error as? AppError)?.message == "notify.slack: set TEAM_SLACK (or TEAM_SLACK_FILE) to the incoming webhook's URL"
        }
    }
}

