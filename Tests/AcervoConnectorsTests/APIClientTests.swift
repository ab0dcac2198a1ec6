import AcervoStore
import AcervoFakeServers
import Foundation
import Synchronization
import Testing
@testable import AcervoConnectors

/// Waits recorded instead of slept, so retry tests are instant and can check the delays asked for.
final class RecordedSleeps: Sendable {
    private let delays = Mutex<[Double]>([])
    var recorded: [Double] { delays.withLock { $0 } }
    var policy: RetryPolicy { RetryPolicy(maxAttempts: 4, baseDelaySeconds: 1, maxDelaySeconds: 60) { [self] in record($0) } }
    private func record(_ delay: Double) { delays.withLock { $0.append(delay) } }
}

/// A fake that answers each request with the next scripted reply (the last one repeats) and keeps the requests.
final class ScriptedServer: Sendable {
    let server: FakeHTTPServer
    private let state: Mutex<(replies: [FakeReply], requests: [FakeRequest])>

    private init(server: FakeHTTPServer, replies: [FakeReply]) {
        self.server = server
        self.state = Mutex((replies, []))
    }

    static func start(_ replies: [FakeReply]) async throws -> ScriptedServer {
        let box = Box()
        let server = try await FakeHTTPServer.start { request in box.scripted?.next(request) ?? .reset }
        let scripted = ScriptedServer(server: server, replies: replies)
        box.set(scripted)
        return scripted
    }

    private func next(_ request: FakeRequest) -> FakeReply {
        state.withLock { state in
            state.requests.append(request)
            return state.replies.count > 1 ? state.replies.removeFirst() : state.replies[0]
        }
    }

    var requests: [FakeRequest] { state.withLock { $0.requests } }
    var url: String { server.baseURL + "/v1/thing?key=secret-in-query" }

    final class Box: Sendable {
        private let value = Mutex<ScriptedServer?>(nil)
        var scripted: ScriptedServer? { value.withLock { $0 } }
        func set(_ server: ScriptedServer) { value.withLock { $0 = server } }
    }
}

struct Thing: Decodable, Equatable {
    var id: String
    var size: Int
}

@Suite("HTTP layer")
struct APIClientTests {
    let secret = Secret("sk-very-secret-value")

    func client(_ session: HTTPSession, _ sleeps: RecordedSleeps) -> APIClient {
        APIClient(provider: "TestProvider", session: session, retry: sleeps.policy, secrets: [secret],
                  authorize: { [secret] _ throws(ConnectorError) in [("Authorization", "Bearer \(secret.value)")] })
    }

    func withClient(_ replies: [FakeReply], readTimeout: Double = 5,
                    _ body: (APIClient, ScriptedServer, RecordedSleeps) async throws -> Void) async throws {
        let server = try await ScriptedServer.start(replies)
        let session = HTTPSession(connectTimeoutSeconds: 2, readTimeoutSeconds: readTimeout)
        let sleeps = RecordedSleeps()
        do {
            try await body(client(session, sleeps), server, sleeps)
        } catch {
            await session.shutdown()
            await server.server.stop()
            throw error
        }
        await session.shutdown()
        await server.server.stop()
    }

    static let good = FakeReply.json(200, ["id": "t1", "size": 3])

    @Test("a 429 is retried after the Retry-After the provider asked for")
    func retryAfter() async throws {
        try await withClient([.error(429, "slow down", headers: [("Retry-After", "7")]), Self.good]) { client, server, sleeps in
            let thing = try await client.json(APIRequest(.GET, server.url), as: Thing.self)
            #expect(thing == Thing(id: "t1", size: 3))
            #expect(sleeps.recorded == [7])
            #expect(server.requests.count == 2)
            #expect(server.requests.allSatisfy { $0.headers["authorization"] == "Bearer sk-very-secret-value" })
        }
    }

    @Test("5xx, a reset connection, truncated JSON and a cut body are retried with backoff until the answer arrives")
    func transientFaults() async throws {
        let faults: [FakeReply] = [.error(503, "unavailable"), .reset, .truncatedJSON(["id": "t1", "size": 3]),
                                   .cutBody(status: 200, body: Array(#"{"id":"t1","size":3}"#.utf8))]
        try await withClient(faults + [Self.good]) { client, server, sleeps in
            var retry = client
            retry.retry.maxAttempts = 6
            let thing = try await retry.json(APIRequest(.GET, server.url), as: Thing.self)
            #expect(thing.id == "t1")
            #expect(server.requests.count == 5)
            #expect(sleeps.recorded.count == 4)
            // Exponential with jitter: attempt n waits within [2^(n-1) / 2, 2^(n-1)] seconds.
            for (index, delay) in sleeps.recorded.enumerated() {
                let ceiling = pow(2, Double(index))
                #expect(delay >= ceiling / 2 && delay <= ceiling)
            }
        }
    }

    @Test("a provider that stalls past the read timeout is retried")
    func timeout() async throws {
        try await withClient([.delayed(seconds: 8, Self.good), Self.good], readTimeout: 1) { client, server, _ in
            let thing = try await client.json(APIRequest(.GET, server.url), as: Thing.self)
            #expect(thing.id == "t1")
            #expect(server.requests.count == 2)
        }
    }

    @Test("other 4xx are not retried, and the provider's message is kept")
    func noRetryOn400() async throws {
        try await withClient([.error(400, "Invalid 'attributes': too many keys")]) { client, server, sleeps in
            let error = await #expect(throws: ConnectorError.self) { try await client.json(APIRequest(.POST, server.url), as: Thing.self) }
            #expect(error?.kind == .rejected)
            #expect(error?.status == 400)
            #expect(error?.description == "TestProvider POST /v1/thing was rejected (HTTP 400): Invalid 'attributes': too many keys")
            #expect(server.requests.count == 1)
            #expect(sleeps.recorded.isEmpty)
        }
    }

    @Test("after the last attempt the error names the provider, the request and how often it was tried")
    func givesUp() async throws {
        try await withClient([.error(500, "boom")]) { client, server, _ in
            let error = await #expect(throws: ConnectorError.self) { try await client.json(APIRequest(.GET, server.url), as: Thing.self) }
            #expect(error?.kind == .unavailable)
            #expect(error?.description.contains("TestProvider GET /v1/thing kept failing (HTTP 500): boom (after 4 attempts)") == true)
            #expect(server.requests.count == 4)
        }
    }

    @Test("an HTML error page, a missing field and malformed JSON are reported as such")
    func badResponses() async throws {
        try await withClient([.html(200, "Bad Gateway")]) { client, server, _ in
            let error = await #expect(throws: ConnectorError.self) { try await client.json(APIRequest(.GET, server.url), as: Thing.self) }
            #expect(error?.kind == .badResponse)
            #expect(error?.description.contains("an HTML page instead of JSON") == true)
        }
        try await withClient([.json(200, ["id": "t1"])]) { client, server, _ in
            let error = await #expect(throws: ConnectorError.self) { try await client.json(APIRequest(.GET, server.url), as: Thing.self) }
            #expect(error?.description.contains("the field `size` is missing") == true)
        }
        try await withClient([.respond(status: 200, headers: [], body: Array("{\"id\": ".utf8))]) { client, server, _ in
            let error = await #expect(throws: ConnectorError.self) { try await client.json(APIRequest(.GET, server.url), as: Thing.self) }
            #expect(error?.description.contains("malformed JSON") == true)
        }
    }

    @Test("secrets never reach a message: not from headers, not from the query, not from an echoing error body")
    func redaction() async throws {
        try await withClient([.error(400, "bad key sk-very-secret-value for project")]) { client, server, _ in
            let error = await #expect(throws: ConnectorError.self) { try await client.json(APIRequest(.GET, server.url), as: Thing.self) }
            let text = try #require(error).description
            #expect(!text.contains("sk-very-secret-value"))
            #expect(!text.contains("secret-in-query"))
            #expect(text.contains("[redacted]"))
        }
        #expect("\(secret)" == "[redacted]")
    }

    @Test("a 401 refreshes the credentials once and retries")
    func refreshOn401() async throws {
        let server = try await ScriptedServer.start([.error(401, "token expired"), Self.good])
        let session = HTTPSession()
        let refreshes = Mutex<[Bool]>([])
        let client = APIClient(provider: "TestProvider", session: session, retry: RecordedSleeps().policy, authorize: { refresh throws(ConnectorError) in
            refreshes.withLock { $0.append(refresh) }
            return [("Authorization", "Bearer token-\(refreshes.withLock { $0.count })")]
        })
        let thing = try await client.json(APIRequest(.GET, server.url), as: Thing.self)
        #expect(thing.id == "t1")
        #expect(refreshes.withLock { $0 } == [false, true, false])
        #expect(server.requests.map { $0.headers["authorization"] } == ["Bearer token-1", "Bearer token-3"])
        await session.shutdown()
        await server.server.stop()
    }

    @Test("Retry-After as seconds or an HTTP date; rate-limit reset headers when it is absent")
    func retryAfterDate() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let seconds = APIClient.retryAfterSeconds(formatter.string(from: Date().addingTimeInterval(30)))
        #expect(seconds.map { $0 > 25 && $0 <= 30 } == true)
        #expect(APIClient.retryAfterSeconds("12") == 12)
        #expect(APIClient.waitSeconds(["ratelimit-reset": "30"]) == 30)
        #expect(APIClient.waitSeconds(["ratelimit": "limit=100, remaining=0, reset=45"]) == 45)
        #expect(APIClient.waitSeconds(["x-ratelimit-reset": "20", "retry-after": "3"]) == 3)
        let epoch = APIClient.waitSeconds(["x-ratelimit-reset": String(Int(Date().timeIntervalSince1970) + 60)])
        #expect(epoch.map { $0 > 55 && $0 <= 60 } == true)
        #expect(APIClient.retryAfterSeconds("soon") == nil)
    }

    @Test("secrets come from the environment or from NAME_FILE; a missing one says what to set")
    func environment() throws {
        let directory = NSTemporaryDirectory() + "acervo-secret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "from-file\n".write(toFile: directory + "/key", atomically: true, encoding: .utf8)
        let environment = ConnectorEnvironment(["OPENAI_API_KEY_FILE": directory + "/key", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"])
        #expect(try environment.secret("OPENAI_API_KEY")?.value == "from-file")
        #expect(environment.baseURL("OPENAI_BASE_URL", default: "x") == "http://127.0.0.1:9/v1")
        let error = #expect(throws: ConnectorError.self) { try ConnectorEnvironment([:]).requiredSecret("GEMINI_API_KEY", for: "Gemini") }
        #expect(error?.description == "Gemini: set GEMINI_API_KEY (or GEMINI_API_KEY_FILE, a file holding it) in the environment")
    }
}

/// The provider's explanation of an error reaches the message, whatever envelope carries it.
@Suite struct ProviderErrorMessageTests {
    @Test func `OAuth's error_description, Google's status and OpenAI's type are kept; secrets are not`() async throws {
        let session = HTTPSession()
        let client = APIClient(provider: "Google OAuth", session: session, secrets: [Secret("s3cr3t-key-material")])
        func message(_ object: [String: Any]) -> String {
            let body = Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
            return client.errorMessage(APIResponse(status: 400, headers: [:], body: body))
        }
        #expect(message(["error": "invalid_grant", "error_description": "Invalid JWT Signature."]) == "invalid_grant: Invalid JWT Signature.")
        #expect(message(["error": "invalid_client"]) == "invalid_client")
        #expect(message(["error": ["code": 400, "message": "Invalid recognizer location.", "status": "INVALID_ARGUMENT"]])
            == "Invalid recognizer location. (INVALID_ARGUMENT)")
        #expect(message(["error": ["message": "Unsupported format json_verbose", "type": "invalid_request_error", "param": "response_format"]])
            == "Unsupported format json_verbose (invalid_request_error)")
        #expect(message(["error": "invalid_grant", "error_description": "key s3cr3t-key-material was revoked"]) == "invalid_grant: key [redacted] was revoked")
        await session.shutdown()
    }
}
