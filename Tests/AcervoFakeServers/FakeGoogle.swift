import Crypto
import Foundation
import Synchronization
import _CryptoExtras

/// Google's OAuth token endpoint and Speech-to-Text v2 `recognize` on 127.0.0.1. The token endpoint verifies
/// the JWT the way Google does (RS256 signature against the service account's public key, `iss`, `aud`,
/// `scope`, an `exp` at most an hour after `iat`); `recognize` accepts only tokens it issued and unexpired,
/// checks the config and the audio (base64 FLAC, at most a minute), and answers one word per second of audio.
public final class FakeGoogle: Sendable {
    public let clientEmail = "acervo-test@project.iam.gserviceaccount.com"
    public let privateKeyPEM: String
    private let publicKey: _RSA.Signing.PublicKey
    private let state = Mutex(State())
    private let server = Mutex<FakeHTTPServer?>(nil)
    public let faults: FaultInjector?

    struct State: Sendable {
        var calls: [String: Int] = [:]
        var violations: [String] = []
        var validTokens: Set<String> = []
        var nextToken = 1
        var recognizeRequests: [[String: String]] = []
        var imagesRead = 0
        var imagesAnswered = 0
        var imageFailures: [Data: (code: Int, times: Int)] = [:]
        var poisoned: [Int: FakeReply] = [:]
        var languageHints: [[String]] = []
    }

    public var baseURL: String { server.withLock { $0?.baseURL } ?? "" }
    public var tokenURL: String { baseURL + "/token" }
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var violations: [String] { state.withLock { $0.violations } }
    /// Per recognize call: model, languages (comma-joined), seconds of audio.
    public var recognizeRequests: [[String: String]] { state.withLock { $0.recognizeRequests } }

    public static func start(faults: FaultInjector? = nil) async throws -> FakeGoogle {
        let fake = try FakeGoogle(faults: faults)
        let server = try await FakeHTTPServer.start { [fake] request in fake.handle(request) }
        fake.server.withLock { $0 = server }
        return fake
    }

    private init(faults: FaultInjector?) throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        privateKeyPEM = key.pemRepresentation
        publicKey = key.publicKey
        self.faults = faults
    }

    public func stop() async { await server.withLock { $0 }?.stop() }

    /// A service-account key file for this fake, written into `directory`.
    public func writeServiceAccount(into directory: String, projectID: String = "acervo-test") throws -> String {
        let path = directory + "/service-account.json"
        let object: [String: Any] = ["type": "service_account", "client_email": clientEmail, "private_key": privateKeyPEM,
                                     "token_uri": tokenURL, "project_id": projectID]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Invalidates every token issued so far: the next call with one gets a 401.
    /// Every recognize request for audio of about `seconds` gets `reply` (an HTML page, broken JSON, …).
    public func poisonRecognize(seconds: Int, with reply: FakeReply) { state.withLock { $0.poisoned[seconds] = reply } }
    /// Recognize answers every piece again.
    public func healRecognize() { state.withLock { $0.poisoned.removeAll() } }

    public func expireTokens() { state.withLock { $0.validTokens.removeAll() } }
    public func resetCounts() { state.withLock { $0.calls = [:]; $0.recognizeRequests = [] } }

    private func count(_ route: String) { state.withLock { $0.calls[route, default: 0] += 1 } }

    private func violation(_ text: String, status: Int = 400) -> FakeReply {
        state.withLock { $0.violations.append(text) }
        return .json(status, ["error": ["code": status, "message": text, "status": "INVALID_ARGUMENT"]])
    }

    func handle(_ request: FakeRequest) -> FakeReply {
        if let fault = faults?.next(), let reply = faults?.replyBeforeProcessing(fault) { return reply }
        if request.method == "POST" && request.path == "/token" {
            count("POST /token")
            return token(request)
        }
        if request.method == "POST" && request.path == "/v1/images:annotate" {
            count("POST /v1/images:annotate")
            return annotate(request)
        }
        if request.method == "POST", request.path.hasPrefix("/v2/projects/"), request.path.hasSuffix(":recognize") {
            count("POST :recognize")
            return recognize(request)
        }
        return violation("no such endpoint: \(request.method) \(request.path)", status: 404)
    }

    private func token(_ request: FakeRequest) -> FakeReply {
        guard request.headers["content-type"]?.hasPrefix("application/x-www-form-urlencoded") == true else {
            return violation("the token request must be form-encoded")
        }
        var form: [String: String] = [:]
        for pair in request.text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { form[parts[0]] = parts[1] }
        }
        guard form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer", let assertion = form["assertion"] else {
            return violation("grant_type must be urn:ietf:params:oauth:grant-type:jwt-bearer with an assertion")
        }
        let parts = assertion.split(separator: ".").map(String.init)
        guard parts.count == 3, let header = Self.decodeJSON(parts[0]), let claims = Self.decodeJSON(parts[1]),
              let signature = Self.base64URLDecode(parts[2]) else {
            return .json(400, ["error": "invalid_grant", "error_description": "Invalid JWT: malformed"])
        }
        guard header["alg"] as? String == "RS256",
              publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: Array("\(parts[0]).\(parts[1])".utf8),
                                         padding: .insecurePKCS1v1_5) else {
            return .json(400, ["error": "invalid_grant", "error_description": "Invalid JWT Signature."])
        }
        let now = Date().timeIntervalSince1970
        guard claims["iss"] as? String == clientEmail, claims["aud"] as? String == tokenURL,
              (claims["scope"] as? String)?.contains("https://www.googleapis.com/auth/cloud-platform") == true,
              let iat = claims["iat"] as? Double, let exp = claims["exp"] as? Double, exp - iat <= 3600, exp > now, abs(iat - now) < 300 else {
            return violation("JWT claims wrong: \(claims)")
        }
        let token = state.withLock { state -> String in
            defer { state.nextToken += 1 }
            let token = "ya29.fake-\(state.nextToken)"
            state.validTokens.insert(token)
            return token
        }
        return .json(200, ["access_token": token, "token_type": "Bearer", "expires_in": 3599])
    }

    private func recognize(_ request: FakeRequest) -> FakeReply {
        let bearer = request.headers["authorization"].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let bearer, state.withLock({ $0.validTokens.contains(bearer) }) else {
            return .json(401, ["error": ["code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"]])
        }
        guard let body = request.json, let config = body["config"] as? [String: Any] else { return violation("recognize needs a JSON body with `config`") }
        guard let languages = config["languageCodes"] as? [String], !languages.isEmpty else { return violation("config.languageCodes is required") }
        guard let model = config["model"] as? String else { return violation("config.model is required") }
        guard config["autoDecodingConfig"] != nil || config["explicitDecodingConfig"] != nil else {
            return violation("one of autoDecodingConfig or explicitDecodingConfig is required")
        }
        let features = config["features"] as? [String: Any]
        guard features?["enableWordTimeOffsets"] as? Bool == true else { return violation("enableWordTimeOffsets was not requested") }
        guard let content = (body["content"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            return violation("`content` must be base64 audio")
        }
        guard content.count <= 10 << 20 else { return violation("Audio content is larger than 10 MB") }
        guard let seconds = Self.flacDuration(Array(content)) else { return violation("the audio is not FLAC") }
        guard seconds <= 60 else { return violation("Sync input too long. For audio longer than 1 min use LongRunningRecognize") }
        if let poison = state.withLock({ $0.poisoned[Int(seconds.rounded())] }) { return poison }
        state.withLock { $0.recognizeRequests.append(["model": model, "languages": languages.joined(separator: ","), "seconds": String(format: "%.1f", seconds)]) }
        var words: [[String: Any]] = []
        var second = 0
        while Double(second) < seconds - 0.25 {
            words.append(["word": "w", "startOffset": "\(second).000s", "endOffset": "\(second).500s", "confidence": 0.9])
            second += 1
        }
        let result: [String: Any] = [
            "alternatives": [["transcript": Array(repeating: "w", count: words.count).joined(separator: " "), "confidence": 0.91, "words": words]],
            "languageCode": languages[0].lowercased(), "resultEndOffset": String(format: "%.3fs", seconds),
        ]
        return .json(200, ["results": words.isEmpty ? [] : [result], "metadata": ["totalBilledDuration": "\(Int(seconds.rounded(.up)))s"]])
    }

    public var imagesRead: Int { state.withLock { $0.imagesRead } }
    /// Images answered with text (not with an error).
    public var imagesAnswered: Int { state.withLock { $0.imagesAnswered } }

    /// The image `bytes` gets a per-image error with `code` the next `times` times it is sent (-1: always).
    public func failImage(_ bytes: [UInt8], code: Int, times: Int) {
        state.withLock { $0.imageFailures[Data(bytes)] = (code, times) }
    }
    public var languageHints: [[String]] { state.withLock { $0.languageHints } }

    /// Cloud Vision `images:annotate`: at most 16 PNG/JPEG images, DOCUMENT_TEXT_DETECTION; the "text" of an
    /// image names its size, so different frames read differently.
    private func annotate(_ request: FakeRequest) -> FakeReply {
        let bearer = request.headers["authorization"].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let bearer, state.withLock({ $0.validTokens.contains(bearer) }) else {
            return .json(401, ["error": ["code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"]])
        }
        guard let requests = request.json?["requests"] as? [[String: Any]], !requests.isEmpty else { return violation("`requests` is required") }
        guard requests.count <= 16 else { return violation("At most 16 images per request (got \(requests.count))") }
        var responses: [[String: Any]] = []
        for image in requests {
            guard let content = ((image["image"] as? [String: Any])?["content"] as? String).flatMap({ Data(base64Encoded: $0) }),
                  content.starts(with: [0x89, 0x50, 0x4E, 0x47]) || content.starts(with: [0xFF, 0xD8]) else {
                return violation("image.content must be a base64 PNG or JPEG")
            }
            guard (image["features"] as? [[String: Any]])?.first?["type"] as? String == "DOCUMENT_TEXT_DETECTION" else {
                return violation("features must ask for DOCUMENT_TEXT_DETECTION")
            }
            let hints = ((image["imageContext"] as? [String: Any])?["languageHints"] as? [String]) ?? []
            state.withLock {
                $0.imagesRead += 1
                $0.languageHints.append(hints)
            }
            let failure: (code: Int, times: Int)? = state.withLock { state in
                guard let planned = state.imageFailures[content], planned.times != 0 else { return nil }
                state.imageFailures[content]?.times -= 1
                return planned
            }
            if let failure {
                responses.append(["error": ["code": failure.code, "message": failure.code == 13 ? "Internal error." : "Bad image data."]])
                continue
            }
            state.withLock { $0.imagesAnswered += 1 }
            responses.append(["fullTextAnnotation": ["text": "Diapositiva \(content.count)\nlistas en python\n"]])
        }
        return .json(200, ["responses": responses])
    }

    /// Seconds of audio from a FLAC stream's STREAMINFO block.
    public static func flacDuration(_ bytes: [UInt8]) -> Double? {
        guard bytes.count >= 26, Array(bytes[0..<4]) == Array("fLaC".utf8) else { return nil }
        let rate = (Int(bytes[18]) << 12) | (Int(bytes[19]) << 4) | (Int(bytes[20]) >> 4)
        let samples = (Int(bytes[21] & 0x0F) << 32) | (Int(bytes[22]) << 24) | (Int(bytes[23]) << 16) | (Int(bytes[24]) << 8) | Int(bytes[25])
        return rate > 0 ? Double(samples) / Double(rate) : nil
    }

    static func base64URLDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    static func decodeJSON(_ part: String) -> [String: Any]? {
        base64URLDecode(part).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}
