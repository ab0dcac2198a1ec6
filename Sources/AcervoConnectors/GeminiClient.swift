import AcervoRules
import Foundation

/// The Gemini API calls the processors need: the Files API's resumable upload (then waiting for `ACTIVE`)
/// and `generateContent` with a JSON response schema. Authorized by `x-goog-api-key: GEMINI_API_KEY`.
public struct GeminiClient: Sendable {
    public let api: APIClient
    public let baseURL: String
    public var pollIntervalSeconds = 2.0
    public var pollTimeoutSeconds = 900.0

    public static let provider = "Gemini"

    public init(context: ConnectorContext) throws(ConnectorError) {
        let key = try context.environment.requiredSecret("GEMINI_API_KEY", for: Self.provider)
        api = APIClient(provider: Self.provider, session: context.httpSession, retry: context.retry, secrets: [key], log: context.log,
                        authorize: { _ throws(ConnectorError) in [("x-goog-api-key", key.value)] })
        baseURL = context.environment.baseURL("ACERVO_GEMINI_URL", default: "https://generativelanguage.googleapis.com")
        if let interval = context.environment.variables["ACERVO_GEMINI_POLL_SECONDS"].flatMap(Double.init) { pollIntervalSeconds = interval }
    }

    public struct File: Codable, Sendable {
        public var name: String
        public var uri: String?
        public var state: String?
        public var mimeType: String?
        /// RFC 3339; the Files API keeps a file 48 hours.
        public var expirationTime: String?
        public var error: Failure?
        public struct Failure: Codable, Sendable { public var message: String? }

        public init(name: String, uri: String?, state: String?, mimeType: String?, expirationTime: String? = nil) {
            self.name = name
            self.uri = uri
            self.state = state
            self.mimeType = mimeType
            self.expirationTime = expirationTime
        }
    }

    /// The file as the Files API has it now, or nil when it has it no more (expired, deleted: 403 or 404).
    public func file(named name: String) async throws(ConnectorError) -> File? {
        do {
            return try await api.json(APIRequest(.GET, "\(baseURL)/v1beta/\(name)"), as: File.self)
        } catch let error where error.kind == .rejected && [403, 404].contains(error.status ?? 0) {
            return nil
        }
    }

    struct FileEnvelope: Decodable { var file: File }

    /// Uploads a file (streamed from disk) and waits until Gemini has processed it.
    public func upload(path: String, mimeType: String, displayName: String) async throws(ConnectorError) -> File {
        guard let size = FileSystemSize.of(path) else {
            throw ConnectorError(.configuration, provider: Self.provider, request: "", message: "cannot read `\(path)` to upload")
        }
        let start = try APIRequest.json(.POST, "\(baseURL)/upload/v1beta/files", ["file": ["display_name": displayName]], headers: [
            ("X-Goog-Upload-Protocol", "resumable"), ("X-Goog-Upload-Command", "start"),
            ("X-Goog-Upload-Header-Content-Length", "\(size)"), ("X-Goog-Upload-Header-Content-Type", mimeType),
        ])
        let session = try await api.send(start)
        guard let uploadURL = session.headers["x-goog-upload-url"] else {
            throw ConnectorError(.badResponse, provider: Self.provider, request: start.label, status: session.status,
                                 message: "no X-Goog-Upload-URL header in the answer to the upload start")
        }
        var finish = APIRequest(.POST, uploadURL, headers: [("X-Goog-Upload-Command", "upload, finalize"), ("X-Goog-Upload-Offset", "0"),
                                                            ("Content-Type", mimeType)], timeoutSeconds: 600)
        finish.bodyFile = path
        var file = try await api.json(finish, as: FileEnvelope.self).file
        let deadline = Date().addingTimeInterval(pollTimeoutSeconds)
        while file.state == "PROCESSING" || file.state == "STATE_UNSPECIFIED" {
            guard Date() < deadline else {
                throw ConnectorError(.failed, provider: Self.provider, request: "GET /v1beta/\(file.name)", message: "still PROCESSING after \(Int(pollTimeoutSeconds)) s")
            }
            try await api.pause(seconds: pollIntervalSeconds, "GET /v1beta/\(file.name)")
            file = try await api.json(APIRequest(.GET, "\(baseURL)/v1beta/\(file.name)"), as: File.self)
        }
        guard file.state == "ACTIVE", file.uri != nil else {
            throw ConnectorError(.failed, provider: Self.provider, request: "GET /v1beta/\(file.name)",
                                 message: "the uploaded file ended `\(file.state ?? "?")`\(file.error?.message.map { ": \($0)" } ?? "")")
        }
        return file
    }

    struct Generated: Decodable {
        struct Candidate: Decodable {
            struct Content: Decodable {
                struct Part: Decodable { var text: String? }
                var parts: [Part]?
            }
            var content: Content?
            var finishReason: String?
        }
        struct Usage: Decodable {
            struct ModalityCount: Decodable {
                var modality: String?
                var tokenCount: Int?
            }
            var promptTokensDetails: [ModalityCount]?
            var promptTokenCount: Int?
            var candidatesTokenCount: Int?
            var thoughtsTokenCount: Int?
            var cachedContentTokenCount: Int?
            var totalTokenCount: Int?
        }
        var candidates: [Candidate]?
        var usageMetadata: Usage?
    }

    /// What a `generateContent` call was billed for, as `usageMetadata` reports it.
    public struct Usage: Sendable, Equatable {
        /// The prompt (text, video, audio), cached tokens included.
        public var promptTokens: Int
        /// The answer.
        public var candidatesTokens: Int
        /// The model's thinking (gemini-2.5 models think by default), billed at the output price.
        public var thoughtsTokens: Int
        /// Of the prompt, the tokens served from a context cache.
        public var cachedTokens: Int
        /// Of the prompt, the sound (a video's sound track counts here): priced apart on models that price it.
        public var audioPromptTokens: Int

        public init(promptTokens: Int, candidatesTokens: Int, thoughtsTokens: Int, cachedTokens: Int = 0, audioPromptTokens: Int = 0) {
            self.promptTokens = promptTokens
            self.candidatesTokens = candidatesTokens
            self.thoughtsTokens = thoughtsTokens
            self.cachedTokens = cachedTokens
            self.audioPromptTokens = audioPromptTokens
        }

        /// Tokens billed at the output price: the answer and the thinking.
        public var billedOutputTokens: Int { candidatesTokens + thoughtsTokens }
    }

    /// `generateContent` with a JSON schema; returns the JSON text and the usage.
    public func generate(model: String, parts: [JSONValue], schema: JSONValue) async throws(ConnectorError) -> (json: [UInt8], usage: Usage) {
        let body: JSONValue = .object([
            "contents": .array([.object(["role": .string("user"), "parts": .array(parts)])]),
            "generationConfig": .object(["responseMimeType": .string("application/json"), "responseSchema": schema, "temperature": .number(0)]),
        ])
        let request = try APIRequest.json(.POST, "\(baseURL)/v1beta/models/\(model):generateContent", body, timeoutSeconds: 600)
        let response = try await api.json(request, as: Generated.self)
        guard let candidate = response.candidates?.first else {
            throw ConnectorError(.badResponse, provider: Self.provider, request: request.label, message: "no candidates in the answer")
        }
        guard candidate.finishReason == nil || candidate.finishReason == "STOP" else {
            throw ConnectorError(.failed, provider: Self.provider, request: request.label,
                                 message: "generation stopped with `\(candidate.finishReason ?? "")` (SAFETY, MAX_TOKENS, … — see Gemini's finishReason)")
        }
        let text = (candidate.content?.parts ?? []).compactMap(\.text).joined()
        let usage = response.usageMetadata
        let audio = (usage?.promptTokensDetails ?? []).filter { $0.modality == "AUDIO" }.reduce(0) { $0 + ($1.tokenCount ?? 0) }
        return (Array(text.utf8), Usage(promptTokens: usage?.promptTokenCount ?? 0, candidatesTokens: usage?.candidatesTokenCount ?? 0,
                                        thoughtsTokens: usage?.thoughtsTokenCount ?? 0, cachedTokens: usage?.cachedContentTokenCount ?? 0,
                                        audioPromptTokens: audio))
    }
}
