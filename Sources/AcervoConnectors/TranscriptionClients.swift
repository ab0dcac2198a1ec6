import AcervoRules
import Foundation

/// `POST /audio/transcriptions` of OpenAI or a compatible server (faster-whisper, whisper.cpp):
/// multipart audio in, `verbose_json` with segment and word timestamps out.
public struct OpenAITranscriptionClient: Sendable {
    public let api: APIClient
    public let baseURL: String

    public init(context: ConnectorContext) throws(ConnectorError) {
        let client = try context.vectorStores()
        api = client.api
        baseURL = client.baseURL
    }

    public struct Response: Codable, Sendable {
        public struct Segment: Codable, Sendable {
            public var start: Double
            public var end: Double
            public var text: String
        }
        public struct Word: Codable, Sendable {
            public var word: String
            public var start: Double
            public var end: Double
        }
        public var text: String
        public var language: String?
        public var duration: Double?
        public var segments: [Segment]?
        public var words: [Word]?
    }

    /// Transcribes one FLAC file's bytes; `durationSeconds` sizes the request's timeout.
    public func transcribe(flac bytes: [UInt8], model: String, language: String?, durationSeconds: Double) async throws(ConnectorError) -> Response {
        var form = MultipartForm()
        form.add(file: "file", filename: "audio.flac", contentType: "audio/flac", bytes)
        form.add(field: "model", model)
        form.add(field: "response_format", "verbose_json")
        form.add(field: "timestamp_granularities[]", "segment")
        form.add(field: "timestamp_granularities[]", "word")
        if let language { form.add(field: "language", language) }
        let request = APIRequest(.POST, baseURL + "/audio/transcriptions", headers: [("Content-Type", form.contentType)],
                                 body: form.body, timeoutSeconds: max(120, durationSeconds))
        return try await api.json(request, as: Response.self)
    }
}

/// Google Speech-to-Text v2 `recognize` (synchronous, about a minute of audio a request), authorized by the
/// service account.
public struct GoogleSpeechClient: Sendable {
    public static let provider = "Google Speech-to-Text"
    public let api: APIClient
    /// `…/v2/projects/P/locations/L/recognizers/R:recognize`
    public let recognizeURL: String
    /// Where and with which recognizer it recognizes (part of what a piece's answer depends on).
    public let location: String
    public let recognizer: String

    /// `project` falls back to `ACERVO_GOOGLE_PROJECT`, then to the key file's `project_id`; `location`
    /// `global` uses the global endpoint, any other its regional one (`us-central1-speech.googleapis.com`).
    public init(context: ConnectorContext, project: String?, location: String, recognizer: String) throws(ConnectorError) {
        let tokens = try context.googleTokens()
        api = try context.googleAPI(provider: Self.provider)
        guard let project = project ?? context.environment.variables["ACERVO_GOOGLE_PROJECT"] ?? tokens.account.projectID else {
            throw ConnectorError(.configuration, provider: Self.provider, request: "",
                                 message: "no project: set `project` in the rule, ACERVO_GOOGLE_PROJECT, or use a key file with project_id")
        }
        let host = location == "global" ? "https://speech.googleapis.com" : "https://\(location)-speech.googleapis.com"
        let base = context.environment.baseURL("ACERVO_SPEECH_URL", default: host)
        recognizeURL = "\(base)/v2/projects/\(project)/locations/\(location)/recognizers/\(recognizer):recognize"
        self.location = location
        self.recognizer = recognizer
    }

    public struct Response: Codable, Sendable {
        public struct Result: Codable, Sendable {
            public struct Alternative: Codable, Sendable {
                public struct Word: Codable, Sendable {
                    public var word: String
                    public var startOffset: String?
                    public var endOffset: String?
                    public var confidence: Double?
                }
                public var transcript: String?
                public var confidence: Double?
                public var words: [Word]?
            }
            public var alternatives: [Alternative]?
            public var languageCode: String?
            public var resultEndOffset: String?
        }
        public struct Metadata: Codable, Sendable {
            public var totalBilledDuration: String?
        }
        public var results: [Result]?
        public var metadata: Metadata?
    }

    /// Recognizes one piece of audio (auto-detected encoding) with word offsets and confidences.
    public func recognize(audio bytes: [UInt8], languages: [String], model: String) async throws(ConnectorError) -> Response {
        let body: JSONValue = .object([
            "config": .object([
                "autoDecodingConfig": .object([:]),
                "languageCodes": .array(languages.map(JSONValue.string)),
                "model": .string(model),
                "features": .object([
                    "enableWordTimeOffsets": .bool(true), "enableWordConfidence": .bool(true), "enableAutomaticPunctuation": .bool(true),
                ]),
            ]),
            "content": .string(Data(bytes).base64EncodedString()),
        ])
        return try await api.json(try .json(.POST, recognizeURL, body, timeoutSeconds: 120), as: Response.self)
    }

    /// Google's duration strings: `"1.500s"`.
    public static func seconds(_ text: String) -> Double? {
        text.hasSuffix("s") ? Double(text.dropLast()) : Double(text)
    }
}
