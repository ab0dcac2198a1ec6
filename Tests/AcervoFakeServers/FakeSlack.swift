import Foundation
import Synchronization

/// A Slack incoming webhook: accepts `POST /services/T…/B…/SECRET` with a Block Kit message, checks it as
/// Slack would (JSON, `text`, known block types within their limits), answers `ok` — or a fault.
public final class FakeSlack: Sendable {
    public enum Behaviour: Sendable {
        case normal
        /// 500 for the first `count` posts, then normal.
        case failFirst(Int)
        /// 429 with `Retry-After: 0` for the first `count` posts.
        case rateLimitFirst(Int)
        /// A 200 HTML page instead of `ok` (a captive portal, a proxy's error page).
        case garbage
        /// The connection dropped without an answer.
        case reset
        /// Each answer comes `seconds` after its post (a slow network, a congested Slack).
        case slow(seconds: Double)
    }

    private struct State {
        var messages: [[String: Any]] = []
        var violations: [String] = []
        var posts = 0
        var answersDue: [ContinuousClock.Instant] = []
        var behaviour: Behaviour = .normal
    }
    private let state = Mutex(State())
    private let server: FakeHTTPServer
    public let path = "/services/T0ACERVO/B0TEST/sEcReT9webhook7"

    public var url: String { server.baseURL + path }
    public var messages: [[String: Any]] { state.withLock { $0.messages } }
    public var violations: [String] { state.withLock { $0.violations } }
    public var posts: Int { state.withLock { $0.posts } }
    /// Posts whose answer has been sent (or is due) by now.
    public var answered: Int { state.withLock { state in state.answersDue.count { $0 <= .now } } }
    public func behave(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }

    public static func start() async throws -> FakeSlack {
        let box = Mutex<FakeSlack?>(nil)
        let server = try await FakeHTTPServer.start { request in
            box.withLock { $0 }?.handle(request) ?? .reset
        }
        let slack = FakeSlack(server: server)
        box.withLock { $0 = slack }
        return slack
    }

    private init(server: FakeHTTPServer) { self.server = server }

    public func stop() async { await server.stop() }

    private func handle(_ request: FakeRequest) -> FakeReply {
        state.withLock { state in
            state.posts += 1
            guard case .slow(let seconds) = state.behaviour else {
                state.answersDue.append(.now)
                return answer(request, state: &state)
            }
            state.answersDue.append(.now + .milliseconds(Int(seconds * 1000)))
            return .delayed(seconds: seconds, answer(request, state: &state))
        }
    }

    private func answer(_ request: FakeRequest, state: inout State) -> FakeReply {
        switch state.behaviour {
        case .failFirst(let count) where state.posts <= count: return .respond(status: 500, headers: [], body: Array("internal_error".utf8))
        case .rateLimitFirst(let count) where state.posts <= count:
            return .respond(status: 429, headers: [("Retry-After", "0")], body: Array("rate_limited".utf8))
        case .garbage: return .html(200, "Proxy error")
        case .reset: return .reset
        default: break
        }
        guard request.method == "POST", request.path == path else {
            state.violations.append("\(request.method) \(request.path)")
            return .respond(status: 404, headers: [], body: Array("no_service".utf8))
        }
        guard request.headers["content-type"]?.hasPrefix("application/json") == true, let message = request.json else {
            state.violations.append("not JSON: \(request.headers["content-type"] ?? "no content type")")
            return .respond(status: 400, headers: [], body: Array("invalid_payload".utf8))
        }
        let problems = Self.check(message)
        guard problems.isEmpty else {
            state.violations += problems
            return .respond(status: 400, headers: [], body: Array("invalid_blocks".utf8))
        }
        state.messages.append(message)
        return .respond(status: 200, headers: [("Content-Type", "text/html")], body: Array("ok".utf8))
    }

    /// What Slack refuses: no fallback text, unknown block types, texts past their limits, buttons without a URL.
    static func check(_ message: [String: Any]) -> [String] {
        var problems: [String] = []
        if (message["text"] as? String)?.isEmpty != false { problems.append("no fallback `text`") }
        guard let blocks = message["blocks"] as? [[String: Any]], !blocks.isEmpty, blocks.count <= 50 else {
            return problems + ["`blocks` must hold 1 to 50 blocks"]
        }
        func text(_ object: Any?, type: String, limit: Int, _ where_: String) {
            guard let object = object as? [String: Any], object["type"] as? String == type, let text = object["text"] as? String,
                  !text.isEmpty, text.count <= limit else {
                problems.append("\(where_): expected a \(type) text of 1 to \(limit) characters")
                return
            }
        }
        for (index, block) in blocks.enumerated() {
            switch block["type"] as? String {
            case "header": text(block["text"], type: "plain_text", limit: 150, "block \(index) header")
            case "section":
                if let fields = block["fields"] as? [Any] {
                    if fields.count > 10 { problems.append("block \(index): more than 10 fields") }
                    for field in fields { text(field, type: "mrkdwn", limit: 2000, "block \(index) field") }
                } else {
                    text(block["text"], type: "mrkdwn", limit: 3000, "block \(index) section")
                }
            case "context":
                for element in block["elements"] as? [Any] ?? [] { text(element, type: "mrkdwn", limit: 3000, "block \(index) context") }
            case "actions":
                for element in block["elements"] as? [[String: Any]] ?? [] {
                    if element["type"] as? String != "button" || (element["url"] as? String)?.hasPrefix("http") != true {
                        problems.append("block \(index): an action must be a button with a URL")
                    }
                    text(element["text"], type: "plain_text", limit: 75, "block \(index) button")
                }
            default: problems.append("block \(index): unknown type \(block["type"] ?? "none")")
            }
        }
        return problems
    }
}
