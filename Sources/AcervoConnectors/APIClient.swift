import AcervoStore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP request to a provider. Bodies are small here (JSON, a document, an audio chunk); media downloads
/// stream instead (see `APIClient.download`).
public struct APIRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// A file sent as the body, streamed in chunks (a video to upload): memory stays bounded.
    public var bodyFile: String?
    /// Until the response's head arrives; a stalled body is caught by the session's read timeout.
    public var timeoutSeconds: Double
    /// What messages show instead of the URL's path, when the path itself is a secret (a Slack webhook's).
    public var shownPath: String?

    public init(_ method: HTTPMethod, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeoutSeconds: Double = 60) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
    }

    public static func json(_ method: HTTPMethod, _ url: String, _ body: some Encodable, headers: [(name: String, value: String)] = [],
                            timeoutSeconds: Double = 60) throws(ConnectorError) -> APIRequest {
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder.sortedKeys.encode(body)) } catch {
            throw ConnectorError(.configuration, provider: "request", request: "\(method) \(url)", message: "cannot encode the body: \(error)")
        }
        return APIRequest(method, url, headers: headers + [("Content-Type", "application/json")], body: bytes, timeoutSeconds: timeoutSeconds)
    }

    /// `POST /v1/files`: method and path only — the query may hold a key, and hosts differ between tests and
    /// production.
    public var label: String {
        if let shownPath { return "\(method) \(shownPath)" }
        let path = URLComponents(string: url)?.path ?? url
        return "\(method) \(path.isEmpty ? "/" : path)"
    }
}

public struct APIResponse: Sendable {
    public var status: Int
    /// Names lowercased; repeated headers joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// What happened to one call to a provider, for whoever counts them (the service's `/metrics`).
public enum ProviderCall: Sendable, Equatable {
    /// An answer arrived, with this status.
    case answered(provider: String, status: Int)
    /// No answer: a timeout, a reset, a refused connection.
    case noAnswer(provider: String)
    /// The call is being tried again.
    case retried(provider: String)
}

/// The process's HTTP client: connection pools, TLS (certificates verified; there is no switch to turn that
/// off), connect and read timeouts. Shut it down once at the end.
public final class HTTPSession: Sendable {
    let client: HTTPClient
    /// Told of every call made through this session, and every retry.
    let observe: @Sendable (ProviderCall) -> Void

    /// `readTimeoutSeconds`: the longest silence on a connection, before the answer's head as well as inside
    /// its body. Generous by default: Gemini may think about a long video for minutes before it answers, and
    /// a timeout there would pay for the same analysis twice. Downloads use a session with a short one.
    public init(connectTimeoutSeconds: Double = 10, readTimeoutSeconds: Double = 900, observe: @escaping @Sendable (ProviderCall) -> Void = { _ in }) {
        self.observe = observe
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(Int64(connectTimeoutSeconds * 1000)), read: .milliseconds(Int64(readTimeoutSeconds * 1000))))
        configuration.httpVersion = .automatic
        // A refused or failed connection is an answer at once: the client's own retries (with backoff, logged
        // and counted) decide what happens next, instead of the pool retrying silently until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    private let isShutDown = Atomic<Bool>(false)

    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await client.shutdown()
    }

    /// A session dropped without `shutdown()` (an error path) still releases its connections.
    deinit {
        if !isShutDown.load(ordering: .acquiring) { try? client.syncShutdown() }
    }
}

/// Sends requests to one provider: retries 429, 5xx, timeouts, dropped connections and unreadable 2xx bodies
/// with backoff and jitter (a `Retry-After` is obeyed), never other 4xx; refreshes credentials once on a 401;
/// keeps secrets out of every message.
public struct APIClient: Sendable {
    public let provider: String
    let session: HTTPSession
    public var retry: RetryPolicy
    /// Headers that authorize a request (`Authorization: Bearer …`); `refresh` is true after a 401.
    public var authorize: (@Sendable (_ refresh: Bool) async throws(ConnectorError) -> [(name: String, value: String)])?
    /// Values scrubbed from anything a provider sends back before it reaches a message.
    public var secrets: [Secret]
    /// Retries and waits, for progress output (never contains a secret: it is built from labels).
    public var log: @Sendable (String) -> Void
    public var maxResponseBytes = 64 << 20

    public init(provider: String, session: HTTPSession, retry: RetryPolicy = RetryPolicy(maxAttempts: 5),
                secrets: [Secret] = [], log: @escaping @Sendable (String) -> Void = { _ in },
                authorize: (@Sendable (_ refresh: Bool) async throws(ConnectorError) -> [(name: String, value: String)])? = nil) {
        self.provider = provider
        self.session = session
        self.retry = retry
        self.secrets = secrets
        self.log = log
        self.authorize = authorize
    }

    /// Sends `request` until a 2xx arrives that `accept` can read, or a failure that retrying cannot fix.
    public func send<T>(_ request: APIRequest, accept: (APIResponse) throws(ConnectorError) -> T) async throws(ConnectorError) -> T {
        var attempt = 1
        var refreshedAfter401 = false
        while true {
            let outcome = try await perform(request)
            var retryAfter: Double?
            var failure: ConnectorError
            switch outcome {
            case .response(let response) where (200..<300).contains(response.status):
                do throws(ConnectorError) {
                    return try accept(response)
                } catch {
                    failure = error
                    guard error.kind == .badResponse else { throw error }
                }
            case .response(let response) where response.status == 401 && authorize != nil && !refreshedAfter401:
                refreshedAfter401 = true
                _ = try await authorize?(true)
                log("\(provider) \(request.label): HTTP 401, credentials refreshed, retrying")
                continue
            case .response(let response) where response.status == 429 || response.status >= 500:
                retryAfter = Self.waitSeconds(response.headers)
                failure = ConnectorError(.unavailable, provider: provider, request: request.label, status: response.status,
                                         message: errorMessage(response))
            case .response(let response) where response.status == 401 || response.status == 403:
                throw ConnectorError(.authentication, provider: provider, request: request.label, status: response.status,
                                     message: errorMessage(response))
            case .response(let response):
                throw ConnectorError(.rejected, provider: provider, request: request.label, status: response.status,
                                     message: errorMessage(response))
            case .transportFailure(let message):
                failure = ConnectorError(.unavailable, provider: provider, request: request.label, message: message)
            }
            guard try await waitToRetry(after: attempt, request.label, because: failure.message, retryAfter: retryAfter) else {
                failure.message += attempt > 1 ? " (after \(attempt) attempts)" : ""
                throw failure
            }
            attempt += 1
        }
    }

    /// Waits before the attempt after `attempt` (the provider's delay if it gave one, else backoff with
    /// jitter) and logs why; false when the attempts are used up or the task is cancelled.
    func waitToRetry(after attempt: Int, _ label: String, because reason: String, retryAfter: Double? = nil) async throws(ConnectorError) -> Bool {
        if Task.isCancelled { throw ConnectorError(.cancelled, provider: provider, request: label, message: "cancelled") }
        guard attempt < retry.maxAttempts else { return false }
        let delay = retry.delay(afterAttempt: attempt, retryAfterSeconds: retryAfter)
        log(String(format: "%@ %@: %@; retrying in %.1f s (attempt %d of %d)", provider, label, reason, delay, attempt + 1, retry.maxAttempts))
        session.observe(.retried(provider: provider))
        do { try await retry.sleep(delay) } catch {
            throw ConnectorError(.cancelled, provider: provider, request: label, message: "cancelled while waiting to retry")
        }
        return true
    }

    /// Waits between polls of a long operation (a file being processed, a file being indexed); a cancelled
    /// task stops waiting at once, with a cancellation error rather than another request.
    public func pause(seconds: Double, _ label: String) async throws(ConnectorError) {
        do { try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9)) } catch {
            throw ConnectorError(.cancelled, provider: provider, request: label, message: "cancelled while waiting for the provider")
        }
    }

    /// Sends `request` and decodes its JSON answer as `T`.
    public func json<T: Decodable>(_ request: APIRequest, as type: T.Type = T.self) async throws(ConnectorError) -> T {
        try await send(request) { response throws(ConnectorError) in try decode(T.self, from: response, request: request) }
    }

    /// Sends `request`; any 2xx will do.
    public func send(_ request: APIRequest) async throws(ConnectorError) -> APIResponse {
        try await send(request) { $0 }
    }

    public func decode<T: Decodable>(_ type: T.Type, from response: APIResponse, request: APIRequest) throws(ConnectorError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw ConnectorError(.badResponse, provider: provider, request: request.label, status: response.status,
                                 message: Self.explain(error, body: redact(response.text, secrets: secrets)))
        }
    }

    enum Outcome {
        case response(APIResponse)
        case transportFailure(String)
    }

    private func perform(_ request: APIRequest) async throws(ConnectorError) -> Outcome {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method
        outgoing.headers.add(name: "User-Agent", value: "acervo/\(AcervoConnectors.version)")
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let authorize {
            for header in try await authorize(false) { outgoing.headers.replaceOrAdd(name: header.name, value: header.value) }
        }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        if let path = request.bodyFile {
            guard let size = FileSystemSize.of(path) else {
                throw ConnectorError(.configuration, provider: provider, request: request.label, message: "cannot read `\(path)` to upload")
            }
            outgoing.body = .stream(FileChunks(path: path), length: .known(size))
        }
        do {
            let response = try await session.client.execute(outgoing, timeout: .milliseconds(Int64(request.timeoutSeconds * 1000)))
            var headers: [String: String] = [:]
            for (name, value) in response.headers {
                headers[name.lowercased(), default: ""] += headers[name.lowercased()] == nil ? value : ", " + value
            }
            session.observe(.answered(provider: provider, status: Int(response.status.code)))
            let body = try await response.body.collect(upTo: maxResponseBytes)
            return .response(APIResponse(status: Int(response.status.code), headers: headers, body: Array(buffer: body)))
        } catch {
            session.observe(.noAnswer(provider: provider))
            return .transportFailure(redact(Self.describe(error), secrets: secrets))
        }
    }

    /// A short, secret-free description of a transport failure.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded: return "no answer within the request's timeout"
            case .readTimeout: return "the connection stalled (read timeout)"
            case .connectTimeout: return "could not connect in time"
            case .remoteConnectionClosed: return "the connection was closed before the answer was complete"
            case .bodyLengthMismatch: return "the answer was truncated (body shorter than its Content-Length)"
            case .cancelled: return "cancelled"
            default: return "HTTP client error: \(error)"
            }
        }
        if error is NIOTooManyBytesError { return "the answer is larger than the client accepts" }
        return connectionFailure(error)
    }

    /// A failed connection in words: the system's reason (NIO wraps it as `… (errno: 111)`, possibly inside
    /// a connection error per address tried), not the error's debug description.
    static func connectionFailure(_ error: any Error) -> String {
        var code: Int32?
        if let error = error as? IOError { code = error.errnoCode }
        if code == nil, let error = error as? NIOConnectionError {
            code = error.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }.first
            if code == nil, error.dnsAError != nil || error.dnsAAAAError != nil { return "the host name could not be resolved" }
        }
        if code == nil {
            // Some layers only keep the text: `connect(…) failed: Connection refused (errno: 111)`.
            let text = "\(error)"
            if let range = text.range(of: "(errno: "), let number = Int32(text[range.upperBound...].prefix { $0.isNumber }) { code = number }
        }
        switch code {
        case ECONNREFUSED?: return "the connection was refused: nothing is listening at that address"
        case ECONNRESET?: return "the connection was reset by the other side"
        case EHOSTUNREACH?, ENETUNREACH?: return "the host cannot be reached from here"
        case ETIMEDOUT?: return "the connection timed out"
        case let code?: return "the connection failed: " + String(cString: strerror(code)).lowercased()
        case nil: return "the connection failed: \(String(describing: error).prefix(200))"
        }
    }

    /// How long the provider asked to wait: `Retry-After`, else the rate-limit reset (`RateLimit-Reset`,
    /// `RateLimit: …, reset=N`, or `X-RateLimit-Reset` in seconds or as a Unix time).
    static func waitSeconds(_ headers: [String: String]) -> Double? {
        if let seconds = retryAfterSeconds(headers["retry-after"]) { return seconds }
        if let reset = headers["ratelimit-reset"].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) { return max(0, reset) }
        if let combined = headers["ratelimit"], let range = combined.range(of: "reset=") {
            let digits = combined[range.upperBound...].prefix { $0.isNumber || $0 == "." }
            if let reset = Double(digits) { return max(0, reset) }
        }
        if let reset = headers["x-ratelimit-reset"].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
            return reset > 1_000_000_000 ? max(0, reset - Date().timeIntervalSince1970) : max(0, reset)
        }
        return nil
    }

    /// `Retry-After` as seconds (`120`) or an HTTP date.
    static func retryAfterSeconds(_ value: String?) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }

    /// The provider's own error message when it sent one in JSON (`{"error": {"message": …}}`), else the start of
    /// the body.
    /// The provider's own explanation of an error, whichever envelope it uses: Google's and OpenAI's
    /// `{"error": {"message", "status"|"type", "code"}}`, OAuth's `{"error": "invalid_grant",
    /// "error_description": "…"}` (the description is what says what to fix), or a bare `message`.
    func errorMessage(_ response: APIResponse) -> String {
        let text = redact(response.text, secrets: secrets)
        if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String {
                let kind = (error["status"] as? String) ?? (error["type"] as? String) ?? (error["code"] as? String)
                return kind.map { "\(message) (\($0))" } ?? message
            }
            if let code = object["error"] as? String {
                let description = (object["error_description"] as? String) ?? (object["message"] as? String)
                return description.map { "\(code): \($0)" } ?? code
            }
            if let message = object["message"] as? String { return message }
        }
        return Self.excerpt(text)
    }

    /// Why a body could not be decoded, in words (a missing field, an HTML page, malformed JSON).
    public static func explain(_ error: any Error, body: String) -> String {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.lowercased().hasPrefix("<!doctype html") || trimmed.lowercased().hasPrefix("<html") {
            return "an HTML page instead of JSON: \(excerpt(trimmed))"
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "the field `\(path(context.codingPath + [key]))` is missing"
        case .valueNotFound(_, let context)?:
            return "the field `\(path(context.codingPath))` is null"
        case .typeMismatch(let type, let context)?:
            return "the field `\(path(context.codingPath))` is not a \(type)"
        case .dataCorrupted?:
            return trimmed.isEmpty ? "an empty body instead of JSON" : "malformed JSON: \(excerpt(trimmed))"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }

    static func excerpt(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 200 ? String(flat.prefix(200)) + "…" : flat
    }
}

enum FileSystemSize {
    static func of(_ path: String) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }
}

/// A file as a sequence of 1 MiB buffers, read as the upload consumes them.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?

        mutating func next() async throws -> ByteBuffer? {
            guard let handle else { throw ConnectorError(.configuration, provider: "upload", request: "", message: "the file to upload vanished") }
            guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else {
                try? handle.close()
                return nil
            }
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
}

public enum AcervoConnectors {
    public static let version = "0.1.0"
}

extension JSONEncoder {
    /// Request bodies with sorted keys: deterministic, so fakes and logs compare byte for byte.
    static let sortedKeys: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
