import Foundation
import Synchronization

/// Hotmart's OAuth endpoint and members-area ("Club") API on 127.0.0.1: client-credentials tokens (Basic
/// auth checked, tokens expire on demand), modules and pages paginated with `max_results` / `page_token`.
/// The catalog can be changed between builds.
public final class FakeHotmart: Sendable {
    public struct Lesson: Sendable {
        public var pageID: String
        public var name: String
        public var sequence: Int
        public var type: String
        public var hasMedia: Bool
        public init(_ pageID: String, _ name: String, sequence: Int, type: String = "CONTENT", hasMedia: Bool = true) {
            self.pageID = pageID
            self.name = name
            self.sequence = sequence
            self.type = type
            self.hasMedia = hasMedia
        }
    }

    public struct Module: Sendable {
        public var moduleID: String
        public var name: String
        public var sequence: Int
        public var lessons: [Lesson]
        public init(_ moduleID: String, _ name: String, sequence: Int, lessons: [Lesson]) {
            self.moduleID = moduleID
            self.name = name
            self.sequence = sequence
            self.lessons = lessons
        }
    }

    struct State: Sendable {
        /// Subdomain → its catalog: one fake serves several clubs.
        var catalogs: [String: [Module]] = [:]
        /// The next page listings answer 200 with an empty body.
        var emptyAnswers = 0
        /// Modules whose page list answers an empty list (while the module still counts its pages).
        var noPages: Set<String> = []
        /// Clubs whose every API call answers 500.
        var down: Set<String> = []
        var tokens: Set<String> = []
        var nextToken = 1
        var calls: [String: Int] = [:]
        var violations: [String] = []
        var pageSize = 2
    }

    public let clientID = "client-\(UUID().uuidString.prefix(6))"
    public let clientSecret = "secret-\(UUID().uuidString.prefix(12))"
    public let subdomain = "curso-python"
    public let faults: FaultInjector?
    private let state = Mutex(State())
    private let server = Mutex<FakeHTTPServer?>(nil)

    public var baseURL: String { server.withLock { $0?.baseURL } ?? "" }
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var violations: [String] { state.withLock { $0.violations } }

    public static func start(faults: FaultInjector? = nil) async throws -> FakeHotmart {
        let fake = FakeHotmart(faults: faults)
        let server = try await FakeHTTPServer.start { [fake] request in fake.handle(request) }
        fake.server.withLock { $0 = server }
        return fake
    }

    private init(faults: FaultInjector?) { self.faults = faults }

    public func stop() async { await server.withLock { $0 }?.stop() }
    public func setCatalog(_ modules: [Module]) { setCatalog(modules, subdomain: subdomain) }
    public func setCatalog(_ modules: [Module], subdomain: String) { state.withLock { $0.catalogs[subdomain] = modules } }
    /// The next `count` page listings answer 200 with an empty body (as the Club API sometimes does).
    public func answerEmpty(_ count: Int) { state.withLock { $0.emptyAnswers = count } }
    /// The module's page list answers 200 with no items, while the module list still says how many it has.
    public func answerNoPages(for moduleID: String, _ enabled: Bool = true) {
        state.withLock { if enabled { $0.noPages.insert(moduleID) } else { $0.noPages.remove(moduleID) } }
    }
    /// Every call for `subdomain` answers 500 (or normally again).
    public func setDown(_ subdomain: String, _ isDown: Bool = true) {
        state.withLock { if isDown { $0.down.insert(subdomain) } else { $0.down.remove(subdomain) } }
    }
    public func expireTokens() { state.withLock { $0.tokens.removeAll() } }
    public func resetCounts() { state.withLock { $0.calls = [:] } }

    private func count(_ route: String) { state.withLock { $0.calls[route, default: 0] += 1 } }

    private func violation(_ text: String, status: Int = 400) -> FakeReply {
        state.withLock { $0.violations.append(text) }
        return .json(status, ["error": "invalid_request", "error_description": text])
    }

    func handle(_ request: FakeRequest) -> FakeReply {
        if let fault = faults?.next(), let reply = faults?.replyBeforeProcessing(fault) { return reply }
        if request.method == "POST" && request.path == "/security/oauth/token" {
            count("POST /security/oauth/token")
            return token(request)
        }
        let version2 = request.path.hasPrefix("/club/api/v2/modules")
        guard request.method == "GET", request.path.hasPrefix("/club/api/v1/modules") || version2 else {
            return violation("no such endpoint: \(request.method) \(request.path)", status: 404)
        }
        let bearer = request.headers["authorization"].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let bearer, state.withLock({ $0.tokens.contains(bearer) }) else {
            return .json(401, ["error": "invalid_token", "error_description": "Invalid access token"])
        }
        let club = request.query["subdomain"] ?? ""
        guard let catalog = state.withLock({ $0.catalogs[club] }) else { return violation("`subdomain` must name a club (not `\(club)`)") }
        if state.withLock({ $0.down.contains(club) }) { return .error(500, "Internal Server Error") }
        let segments = request.path.split(separator: "/").map(String.init)  // club api v1 modules [id pages]
        let modules = catalog.sorted { $0.sequence < $1.sequence }
        if segments.count == 4 {
            count("GET /modules")
            return page(modules.map { ["module_id": $0.moduleID, "name": $0.name, "sequence": $0.sequence, "is_extra": false, "is_public": false,
                                      "total_pages": $0.lessons.count] }, request)
        }
        if segments.count == 6, segments[5] == "pages" {
            count(version2 ? "GET v2 /modules/{id}/pages" : "GET /modules/{id}/pages")
            // v2 lists a module's pages for one product: the id is required.
            if version2, (request.query["product_id"] ?? "").isEmpty { return violation("v2 pages need `product_id`") }
            let empty = state.withLock { state in
                defer { state.emptyAnswers = max(0, state.emptyAnswers - 1) }
                return state.emptyAnswers > 0
            }
            if empty { return .respond(status: 200, headers: [("Content-Type", "application/json")], body: []) }
            guard let module = modules.first(where: { $0.moduleID == segments[4] }) else {
                return .json(404, ["error": "not_found", "error_description": "module \(segments[4]) not found"])
            }
            if state.withLock({ $0.noPages.contains(module.moduleID) }) { return page([], request) }
            return page(module.lessons.map { ["page_id": $0.pageID, "name": $0.name, "type": $0.type, "sequence": $0.sequence,
                                             "has_media": $0.hasMedia, "is_completed": false] }, request)
        }
        return violation("no such endpoint: \(request.path)", status: 404)
    }

    private func token(_ request: FakeRequest) -> FakeReply {
        let expected = "Basic " + Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        guard request.headers["authorization"] == expected else {
            return .json(401, ["error": "unauthorized", "error_description": "Bad credentials"])
        }
        guard request.query["grant_type"] == "client_credentials", request.query["client_id"] == clientID,
              request.query["client_secret"] == clientSecret else {
            return violation("grant_type=client_credentials, client_id and client_secret are required in the query")
        }
        let token = state.withLock { state -> String in
            defer { state.nextToken += 1 }
            let token = "hm-token-\(state.nextToken)"
            state.tokens.insert(token)
            return token
        }
        return .json(200, ["access_token": token, "token_type": "bearer", "expires_in": 172_800, "scope": "read write"])
    }

    private func page(_ items: [[String: Any]], _ request: FakeRequest) -> FakeReply {
        let pageSize = state.withLock { $0.pageSize }
        let limit = min(Int(request.query["max_results"] ?? "") ?? 10, pageSize)
        let start = Int(request.query["page_token"].flatMap { $0.hasPrefix("p") ? String($0.dropFirst()) : nil } ?? "0") ?? 0
        let slice = Array(items.dropFirst(start).prefix(limit))
        var info: [String: Any] = ["results_per_page": limit, "total_results": items.count]
        if start + slice.count < items.count { info["next_page_token"] = "p\(start + slice.count)" }
        return .json(200, ["items": slice, "page_info": info])
    }
}

/// A file server with ETags, conditional GETs and byte ranges, which can drop the next downloads halfway.
public final class FakeMediaServer: Sendable {
    struct State: Sendable {
        var files: [String: [UInt8]] = [:]
        var requests: [String: Int] = [:]
        var uris: [String] = []
        var bytesSent = 0
        var dropNext = 0
        var notModified = 0
        var partialResponses = 0
    }

    private let state = Mutex(State())
    private let server = Mutex<FakeHTTPServer?>(nil)

    public var baseURL: String { server.withLock { $0?.baseURL } ?? "" }
    public var requests: [String: Int] { state.withLock { $0.requests } }
    /// Every request target as sent, in order.
    public var uris: [String] { state.withLock { $0.uris } }
    public var totalRequests: Int { requests.values.reduce(0, +) }
    public var bytesSent: Int { state.withLock { $0.bytesSent } }
    public var notModified: Int { state.withLock { $0.notModified } }
    /// 206 answers: downloads resumed with a `Range`.
    public var partialResponses: Int { state.withLock { $0.partialResponses } }

    public static func start() async throws -> FakeMediaServer {
        let fake = FakeMediaServer()
        let server = try await FakeHTTPServer.start { [fake] request in fake.handle(request) }
        fake.server.withLock { $0 = server }
        return fake
    }

    public func stop() async { await server.withLock { $0 }?.stop() }
    public func put(_ path: String, _ bytes: [UInt8]) { state.withLock { $0.files[path] = bytes } }
    public func resetCounts() { state.withLock { $0.requests = [:]; $0.bytesSent = 0; $0.notModified = 0 } }
    /// The next `count` full downloads stop halfway (the connection closes).
    public func dropNextDownloads(_ count: Int) { state.withLock { $0.dropNext = count } }

    static func etag(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 1469598103934665603
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
        return "\"\(String(hash, radix: 16))-\(bytes.count)\""
    }

    func handle(_ request: FakeRequest) -> FakeReply {
        state.withLock { state -> FakeReply in
            state.requests[request.path, default: 0] += 1
            state.uris.append(request.uri)
            guard request.method == "GET", let bytes = state.files[request.path] else { return .respond(status: 404, headers: [], body: []) }
            let etag = Self.etag(bytes)
            if request.headers["if-none-match"] == etag {
                state.notModified += 1
                return .respond(status: 304, headers: [("ETag", etag)], body: [])
            }
            var start = 0
            if let range = request.headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
               request.headers["if-range"].map({ $0 == etag }) ?? true {
                start = Int(range.dropFirst(6).dropLast()) ?? 0
                guard start < bytes.count else { return .respond(status: 416, headers: [("Content-Range", "bytes */\(bytes.count)")], body: []) }
            }
            let body = Array(bytes[start...])
            let headers: [(String, String)] = [("ETag", etag), ("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
                + (start > 0 ? [("Content-Range", "bytes \(start)-\(bytes.count - 1)/\(bytes.count)")] : [])
            let status = start > 0 ? 206 : 200
            if status == 206 { state.partialResponses += 1 }
            if state.dropNext > 0 {
                state.dropNext -= 1
                state.bytesSent += body.count / 2
                return .partial(status: status, headers: headers, body: body, sendBytes: body.count / 2)
            }
            state.bytesSent += body.count
            return .respond(status: status, headers: headers, body: body)
        }
    }
}
