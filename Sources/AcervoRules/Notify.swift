import Yams

/// Who hears about builds, and when (`notify:` in pipeline.yaml):
///
/// ```yaml
/// notify:
///   on: [failure, budget, shrink, summary]     # default: failure, budget, shrink
///   slack: { webhook: SLACK_WEBHOOK_URL }       # the variable holding the incoming-webhook URL
///   email: { to: [equipe@example.com], from: acervo@example.com }   # server: ACERVO_SMTP_URL
///   dashboard_url: https://acervo.example.com
/// ```
///
/// Addresses of secrets are names of environment variables, never the secrets themselves: the rules folder
/// is shared and versioned.
public struct NotifySettings: Sendable, Equatable {
    public enum Event: String, Sendable, CaseIterable, Comparable {
        /// A build that ended with failed actions, could not run, or whose sync failed.
        case failure
        /// A build that stopped starting paid actions at the budget.
        case budget
        /// The source's catalog shrank past `max_shrink` and was refused.
        case shrink
        /// Every scheduled build, whatever its outcome: what ran, what it cost.
        case summary

        public static func < (lhs: Event, rhs: Event) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public struct Slack: Sendable, Equatable {
        /// The environment variable holding the webhook URL (default `SLACK_WEBHOOK_URL`).
        public var webhookVariable: String
        public init(webhookVariable: String = "SLACK_WEBHOOK_URL") { self.webhookVariable = webhookVariable }
    }

    public struct Email: Sendable, Equatable {
        public var to: [String]
        public var from: String
        /// The environment variable holding `smtp://user:password@host:587` (default `ACERVO_SMTP_URL`).
        public var serverVariable: String
        public init(to: [String], from: String, serverVariable: String = "ACERVO_SMTP_URL") {
            self.to = to
            self.from = from
            self.serverVariable = serverVariable
        }
    }

    public var events: Set<Event>
    public var slack: Slack?
    public var email: Email?
    /// Linked from every notification (the dashboard behind its reverse proxy).
    public var dashboardURL: String?

    public init(events: Set<Event> = [.failure, .budget, .shrink], slack: Slack? = nil, email: Email? = nil, dashboardURL: String? = nil) {
        self.events = events
        self.slack = slack
        self.email = email
        self.dashboardURL = dashboardURL
    }
}

extension Context {
    func notify(_ node: Node) throws(RulesError) -> NotifySettings {
        let fields = try settings(node, "`notify`", allowed: ["on", "slack", "email", "dashboard_url"])
        var notify = NotifySettings()
        if let on = fields["on"] {
            guard case .sequence(let sequence) = on.value else {
                throw RulesError("`notify.on` must be a list", at: location(on.value), fix: "e.g. `on: [failure, budget, shrink]`")
            }
            var events = Set<NotifySettings.Event>()
            for entry in sequence {
                let name = entry.scalar?.string ?? ""
                guard let event = NotifySettings.Event(rawValue: name) else {
                    let known = NotifySettings.Event.allCases.map(\.rawValue)
                    throw RulesError("unknown notify event `\(name)`", at: location(entry),
                                     fix: didYouMean(name, among: known) ?? "events: \(known.joined(separator: ", "))")
                }
                events.insert(event)
            }
            notify.events = events
        }
        if let slack = fields["slack"] {
            let slackFields = try settings(slack.value, "`notify.slack`", allowed: ["webhook"])
            notify.slack = NotifySettings.Slack(webhookVariable: try variableName(slackFields["webhook"], "webhook") ?? "SLACK_WEBHOOK_URL")
        }
        if let email = fields["email"] {
            let emailFields = try settings(email.value, "`notify.email`", allowed: ["to", "from", "server"])
            guard let toField = emailFields["to"] else {
                throw RulesError("`notify.email` needs `to`", at: location(email.value), fix: "e.g. `to: [equipe@example.com]`")
            }
            var recipients: [String] = []
            switch toField.value {
            case .sequence(let sequence): recipients = sequence.map { $0.scalar?.string ?? "" }
            default: recipients = [toField.value.scalar?.string ?? ""]
            }
            for address in recipients where !Self.isAddress(address) {
                throw RulesError("`\(address)` is not an e-mail address", at: location(toField.value), fix: "write it as name@domain")
            }
            guard let from = try string(emailFields["from"], "from") else {
                throw RulesError("`notify.email` needs `from`", at: location(email.value), fix: "e.g. `from: acervo@example.com`")
            }
            guard Self.isAddress(from) else {
                throw RulesError("`\(from)` is not an e-mail address", at: location(emailFields["from"]!.value), fix: "write it as name@domain")
            }
            notify.email = NotifySettings.Email(to: recipients, from: from,
                                                serverVariable: try variableName(emailFields["server"], "server") ?? "ACERVO_SMTP_URL")
        }
        if let url = try string(fields["dashboard_url"], "dashboard_url") {
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw RulesError("`dashboard_url` must be an http(s) address", at: location(fields["dashboard_url"]!.value),
                                 fix: "e.g. `dashboard_url: https://acervo.example.com`")
            }
            notify.dashboardURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if notify.slack == nil && notify.email == nil {
            throw RulesError("`notify` names no channel", at: location(node), fix: "add `slack: { webhook: SLACK_WEBHOOK_URL }` or `email: { to: [...], from: ... }`")
        }
        return notify
    }

    /// The name of an environment variable. A value that looks like the secret itself is refused: the rules
    /// folder is versioned and shared.
    private func variableName(_ field: (key: Node, value: Node)?, _ what: String) throws(RulesError) -> String? {
        guard let name = try string(field, what) else { return nil }
        guard name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }), name.first?.isLetter == true else {
            throw RulesError("`\(what)` names the environment variable that holds the secret, not the secret itself", at: location(field!.value),
                             fix: "e.g. `\(what): \(what == "webhook" ? "SLACK_WEBHOOK_URL" : "ACERVO_SMTP_URL")`, and set that variable where the service runs")
        }
        return name
    }

    private static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
    }
}
