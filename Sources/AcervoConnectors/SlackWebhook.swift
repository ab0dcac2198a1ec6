import AcervoStore
import Foundation

/// A Slack incoming webhook: one `POST` of a Block Kit message. The webhook's URL is the credential — its path
/// included — so messages about a failed post name neither.
public struct SlackWebhook: Sendable {
    let api: APIClient
    let url: Secret

    public init(url: Secret, session: HTTPSession, retry: RetryPolicy, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.url = url
        let path = URLComponents(string: url.value)?.path
        api = APIClient(provider: "Slack", session: session, retry: retry, secrets: [url] + (path.map { [Secret($0)] } ?? []), log: log)
    }

    /// Posts `message`; Slack answers `ok` in plain text, anything else in the body is an error's name
    /// (`invalid_payload`, `no_service`, `channel_is_archived`).
    public func post(_ message: SlackMessage) async throws(ConnectorError) {
        var request = try APIRequest.json(.POST, url.value, message, timeoutSeconds: 10)
        request.shownPath = "(incoming webhook)"
        try await api.send(request) { response throws(ConnectorError) in
            let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "ok" || text.isEmpty else {
                throw ConnectorError(.badResponse, provider: "Slack", request: request.label, status: response.status,
                                     message: "answered `\(redact(String(text.prefix(200)), secrets: api.secrets))` instead of `ok`")
            }
        }
    }
}

/// A Block Kit message: `text` is the fallback shown in notifications, `blocks` the message itself.
public struct SlackMessage: Sendable, Encodable, Equatable {
    public var text: String
    public var blocks: [Block]

    public init(text: String, blocks: [Block]) {
        self.text = text
        self.blocks = blocks
    }

    /// The blocks Acervo sends, within Slack's limits (150 characters in a header, 3000 in a section's text).
    public enum Block: Sendable, Encodable, Equatable {
        case header(String)
        case section(markdown: String)
        case fields([String])
        case context(String)
        case button(text: String, url: String)

        enum Keys: String, CodingKey { case type, text, fields, elements, url }
        struct Text: Encodable {
            var type: String
            var text: String
        }
        struct Button: Encodable {
            var type = "button"
            var text: Text
            var url: String
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            switch self {
            case .header(let text):
                try container.encode("header", forKey: .type)
                try container.encode(Text(type: "plain_text", text: Self.cut(text, 150)), forKey: .text)
            case .section(let markdown):
                try container.encode("section", forKey: .type)
                try container.encode(Text(type: "mrkdwn", text: Self.cut(markdown, 3000)), forKey: .text)
            case .fields(let fields):
                try container.encode("section", forKey: .type)
                try container.encode(fields.prefix(10).map { Text(type: "mrkdwn", text: Self.cut($0, 2000)) }, forKey: .fields)
            case .context(let text):
                try container.encode("context", forKey: .type)
                try container.encode([Text(type: "mrkdwn", text: Self.cut(text, 3000))], forKey: .elements)
            case .button(let text, let url):
                try container.encode("actions", forKey: .type)
                try container.encode([Button(text: Text(type: "plain_text", text: Self.cut(text, 75)), url: url)], forKey: .elements)
            }
        }

        static func cut(_ text: String, _ limit: Int) -> String { text.count <= limit ? text : String(text.prefix(limit - 1)) + "…" }
    }

    /// Text as Slack's mrkdwn shows it literally: `&`, `<` and `>` escaped (a lesson title cannot ping a
    /// channel or forge a link).
    public static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
