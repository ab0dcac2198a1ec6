import AcervoApp
import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
import Logging
import Synchronization

/// Tells the team what a build did (`notify:`): Slack and e-mail, on failure, budget reached, a refused
/// catalog shrink and, when asked, after every scheduled build.
///
/// Delivery happens beside the build, never in its way: each notification is sent on a task of its own,
/// retried, and logged and counted when it finally fails; the build's outcome does not depend on it. Text
/// from the store (errors, titles) is scrubbed of every secret the service knows before it leaves.
public final class Notifier: Sendable {
    /// What happened, before it is dressed for a channel.
    struct Notice: Sendable, Equatable {
        var event: NotifySettings.Event
        var title: String
        var summary: String
        var failures: [String]
        var moreFailures: Int
        var cost: String?
        var link: String?
    }

    private let settings: NotifySettings
    private let slack: SlackWebhook?
    private let mail: (mailer: SMTPMailer, settings: NotifySettings.Email)?
    private let session: HTTPSession?
    private let secrets: [Secret]
    private let dashboardURL: String?
    private let logger: Logger
    private let metrics: ServiceMetrics
    private let retry: RetryPolicy
    private let pending = Mutex<[Int: Task<Void, Never>]>([:])
    private let counter = Atomic<Int>(0)
    /// Attempts per channel before a notification is given up (logged and counted as failed).
    let attempts: Int

    /// Reads the channels' secrets now: a variable that `notify:` names but nobody set is a configuration
    /// error when the service starts, not a silent night.
    init(settings: NotifySettings, workspace: Workspace, publicURL: String?, logger: Logger, metrics: ServiceMetrics, attempts: Int = 3) throws {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.attempts = attempts
        dashboardURL = settings.dashboardURL ?? publicURL
        var retry = workspace.environment.retryPolicy
        retry.maxAttempts = attempts
        self.retry = retry
        var secrets = try workspace.knownSecrets(AccessPolicy.variables)
        if let slackSettings = settings.slack {
            guard let url = try workspace.secret(slackSettings.webhookVariable) else {
                throw AppError("notify.slack: set \(slackSettings.webhookVariable) (or \(slackSettings.webhookVariable)_FILE) to the incoming webhook's URL",
                               status: .usage)
            }
            secrets.append(Secret(url))
            let session = HTTPSession(readTimeoutSeconds: 10, observe: { metrics.providerCall($0) })
            self.session = session
            slack = SlackWebhook(url: Secret(url), session: session, retry: retry, log: { logger.info("\($0)") })
        } else {
            session = nil
            slack = nil
        }
        if let email = settings.email {
            guard let url = try workspace.secret(email.serverVariable) else {
                throw AppError("notify.email: set \(email.serverVariable) (or \(email.serverVariable)_FILE) to smtp://user:password@host:587", status: .usage)
            }
            secrets.append(Secret(url))
            let server = try SMTPMailer.Server(url: Secret(url))
            if let password = server.password { secrets.append(password) }
            mail = (SMTPMailer(server: server, caFile: try workspace.secret("ACERVO_SMTP_CA_FILE")), email)
        } else {
            mail = nil
        }
        self.secrets = secrets
    }


    /// Sends what `attempt` calls for, on its own task; returns at once.
    func buildEnded(_ attempt: BuildAttempt) {
        guard let notice = notice(for: attempt) else { return }
        let id = counter.add(1, ordering: .relaxed).newValue
        let task = Task { [self] in
            await deliver(notice)
            _ = pending.withLock { $0.removeValue(forKey: id) }
        }
        pending.withLock { $0[id] = task }
    }

    /// Waits for the notifications still being sent.
    func drain() async {
        for task in pending.withLock({ Array($0.values) }) { await task.value }
    }

    /// At shutdown: waits for what is being sent, then closes the HTTP session.
    func shutdown() async {
        await drain()
        await session?.shutdown()
    }

    /// The notice an attempt deserves under the settings, if any: one per build, the most pressing event.
    /// An interrupted build goes out with the failures (the night did not complete), in its own words.
    func notice(for attempt: BuildAttempt) -> Notice? {
        let summary = attempt.outcome?.summary
        let event: NotifySettings.Event
        if attempt.refusedShrink {
            event = .shrink
        } else if attempt.exitStatus == .budgetReached {
            event = .budget
        } else if attempt.exitStatus != .success {
            event = .failure
        } else if attempt.trigger != .manual {
            event = .summary
        } else {
            return nil
        }
        // A failure, budget or shrink the team did not ask about still goes out as the summary they asked for.
        guard settings.events.contains(event) || (settings.events.contains(.summary) && attempt.trigger != .manual) else { return nil }

        let title: String
        switch event {
        case .shrink: title = "Acervo refused the catalog: it shrank too much"
        case .budget: title = "Acervo stopped at the budget"
        case .failure where attempt.exitStatus == .interrupted: title = "Acervo build interrupted"
        case .failure: title = summary == nil ? "Acervo could not build" : "Acervo build finished with failures"
        case .summary: title = "Acervo nightly build: ok"
        }
        var text: String
        if let summary {
            text = "Run \(summary.run) (\(attempt.trigger.words)): executed \(summary.executed), hits \(summary.hits), failed \(summary.failed), "
                + "skipped \(summary.skipped) in \(seconds(summary.durationSeconds))."
            if summary.interrupted {
                text += " The service was stopped before the build finished: \(summary.interruptedActions) "
                    + (summary.interruptedActions == 1 ? "action did" : "actions did") + " not run. What ran is kept, lessons keep their "
                    + "previous documents, and the next start completes the night."
            }
            if summary.budgetReached { text += " Paid actions past the budget were not started." }
            if let outcome = attempt.outcome, outcome.syncStopped {
                text += " The service was stopped before the knowledge base was published; the next build publishes it."
            } else if let syncError = attempt.outcome?.syncError {
                text += " Sync failed: \(syncError)"
            }
        } else {
            text = attempt.error ?? "the build could not start"
        }
        let failures = (summary?.problems ?? []).map(\.line)
        let link = dashboardURL.map { base in summary.map { "\(base)/runs/\($0.run)" } ?? base }
        return Notice(event: event, title: title, summary: scrub(text), failures: failures.prefix(10).map(scrub),
                      moreFailures: max(0, failures.count - 10), cost: summary.map { usd($0.costUSD) }, link: link)
    }

    private func scrub(_ text: String) -> String { redact(text, secrets: secrets) }

    /// Every channel at once, each on its own: a dead webhook never holds up the e-mail.
    private func deliver(_ notice: Notice) async {
        async let slackSent: Void = deliverToSlack(notice)
        async let mailSent: Void = deliverByMail(notice)
        _ = await (slackSent, mailSent)
    }

    private func deliverToSlack(_ notice: Notice) async {
        guard let slack else { return }
        await send("slack", notice) { try await slack.post(Self.slackMessage(notice)) }
    }

    private func deliverByMail(_ notice: Notice) async {
        guard let mail else { return }
        await send("email", notice) {
            let message = MailMessage(from: mail.settings.from, to: mail.settings.to, subject: notice.title, body: Self.mailBody(notice))
            var failure: (any Error)?
            for attempt in 1...attempts {
                do {
                    try await mail.mailer.send(message)
                    return
                } catch {
                    failure = error
                    if attempt < attempts { try? await retry.sleep(retry.delay(afterAttempt: attempt, retryAfterSeconds: nil)) }
                }
            }
            throw failure!
        }
    }

    private func send(_ channel: String, _ notice: Notice, _ body: () async throws -> Void) async {
        do {
            try await body()
            metrics.notification(channel: channel, sent: true)
            logger.info("notification sent", metadata: ["channel": .string(channel), "event": .string(notice.event.rawValue)])
        } catch {
            metrics.notification(channel: channel, sent: false)
            logger.error("notification not delivered", metadata: ["channel": .string(channel), "event": .string(notice.event.rawValue),
                                                                  "error": .string(scrub("\(error)"))])
        }
    }

    /// Block Kit: the title, what happened, the figures, the failures with lesson and reason, a link.
    static func slackMessage(_ notice: Notice) -> SlackMessage {
        var blocks: [SlackMessage.Block] = [.header(notice.title), .section(markdown: SlackMessage.escaped(notice.summary))]
        if let cost = notice.cost { blocks.append(.fields(["*Cost*\n\(cost)", "*Event*\n\(notice.event.rawValue)"])) }
        if !notice.failures.isEmpty {
            let lines = notice.failures.map { "• " + SlackMessage.escaped($0) }
                + (notice.moreFailures > 0 ? ["… and \(notice.moreFailures) more"] : [])
            blocks.append(.section(markdown: "*Failures*\n" + lines.joined(separator: "\n")))
        }
        if let link = notice.link { blocks.append(.button(text: "Open the dashboard", url: link)) }
        return SlackMessage(text: notice.title + ": " + notice.summary, blocks: blocks)
    }

    static func mailBody(_ notice: Notice) -> String {
        var lines = [notice.summary, ""]
        if let cost = notice.cost { lines.append("Cost: \(cost)") }
        if !notice.failures.isEmpty {
            lines.append("")
            lines.append("Failures:")
            lines += notice.failures.map { "- " + $0 }
            if notice.moreFailures > 0 { lines.append("… and \(notice.moreFailures) more") }
        }
        if let link = notice.link { lines += ["", "Dashboard: " + link] }
        return lines.joined(separator: "\n") + "\n"
    }
}
