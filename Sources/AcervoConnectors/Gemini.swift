import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoStore
import Foundation
import Yams

/// The Gemini API calls the processors need: the Files API's resumable upload (then waiting for `ACTIVE`)
/// and `generateContent` with a JSON response schema. Authorized by `x-goog-api-key: GEMINI_API_KEY`.
struct GeminiClient: Sendable {
    let api: APIClient
    let baseURL: String
    var pollIntervalSeconds = 2.0
    var pollTimeoutSeconds = 900.0

    static let provider = "Gemini"

    init(context: ConnectorContext) throws(ConnectorError) {
        let key = try context.environment.requiredSecret("GEMINI_API_KEY", for: Self.provider)
        api = APIClient(provider: Self.provider, session: context.httpSession, retry: context.retry, secrets: [key], log: context.log,
                        authorize: { _ throws(ConnectorError) in [("x-goog-api-key", key.value)] })
        baseURL = context.environment.baseURL("ACERVO_GEMINI_URL", default: "https://generativelanguage.googleapis.com")
        if let interval = context.environment.variables["ACERVO_GEMINI_POLL_SECONDS"].flatMap(Double.init) { pollIntervalSeconds = interval }
    }

    struct File: Decodable, Sendable {
        var name: String
        var uri: String?
        var state: String?
        var mimeType: String?
        var error: Failure?
        struct Failure: Decodable, Sendable { var message: String? }
    }

    struct FileEnvelope: Decodable { var file: File }

    /// Uploads a file (streamed from disk) and waits until Gemini has processed it.
    func upload(path: String, mimeType: String, displayName: String) async throws(ConnectorError) -> File {
        guard let size = FileSystemSize.of(path) else {
            throw ConnectorError(.configuration, provider: Self.provider, request: "", message: "cannot read `\(path)` to upload")
        }
        let start = try APIRequest.json("POST", "\(baseURL)/upload/v1beta/files", ["file": ["display_name": displayName]], headers: [
            ("X-Goog-Upload-Protocol", "resumable"), ("X-Goog-Upload-Command", "start"),
            ("X-Goog-Upload-Header-Content-Length", "\(size)"), ("X-Goog-Upload-Header-Content-Type", mimeType),
        ])
        let session = try await api.send(start)
        guard let uploadURL = session.headers["x-goog-upload-url"] else {
            throw ConnectorError(.badResponse, provider: Self.provider, request: start.label, status: session.status,
                                 message: "no X-Goog-Upload-URL header in the answer to the upload start")
        }
        var finish = APIRequest("POST", uploadURL, headers: [("X-Goog-Upload-Command", "upload, finalize"), ("X-Goog-Upload-Offset", "0"),
                                                            ("Content-Type", mimeType)], timeoutSeconds: 600)
        finish.bodyFile = path
        var file = try await api.json(finish, as: FileEnvelope.self).file
        let deadline = Date().addingTimeInterval(pollTimeoutSeconds)
        while file.state == "PROCESSING" || file.state == "STATE_UNSPECIFIED" {
            guard Date() < deadline else {
                throw ConnectorError(.failed, provider: Self.provider, request: "GET /v1beta/\(file.name)", message: "still PROCESSING after \(Int(pollTimeoutSeconds)) s")
            }
            try? await Task.sleep(nanoseconds: UInt64(pollIntervalSeconds * 1e9))
            file = try await api.json(APIRequest("GET", "\(baseURL)/v1beta/\(file.name)"), as: File.self)
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
            var promptTokenCount: Int?
            var candidatesTokenCount: Int?
            var totalTokenCount: Int?
        }
        var candidates: [Candidate]?
        var usageMetadata: Usage?
    }

    /// `generateContent` with a JSON schema; returns the JSON text and the usage.
    func generate(model: String, parts: [JSONValue], schema: JSONValue) async throws(ConnectorError) -> (json: [UInt8], input: Int, output: Int) {
        let body: JSONValue = .object([
            "contents": .array([.object(["role": .string("user"), "parts": .array(parts)])]),
            "generationConfig": .object(["responseMimeType": .string("application/json"), "responseSchema": schema, "temperature": .number(0)]),
        ])
        let request = try APIRequest.json("POST", "\(baseURL)/v1beta/models/\(model):generateContent", body, timeoutSeconds: 600)
        let response = try await api.json(request, as: Generated.self)
        guard let candidate = response.candidates?.first else {
            throw ConnectorError(.badResponse, provider: Self.provider, request: request.label, message: "no candidates in the answer")
        }
        guard candidate.finishReason == nil || candidate.finishReason == "STOP" else {
            throw ConnectorError(.failed, provider: Self.provider, request: request.label,
                                 message: "generation stopped with `\(candidate.finishReason ?? "")` (SAFETY, MAX_TOKENS, … — see Gemini's finishReason)")
        }
        let text = (candidate.content?.parts ?? []).compactMap(\.text).joined()
        return (Array(text.utf8), response.usageMetadata?.promptTokenCount ?? 0, response.usageMetadata?.candidatesTokenCount ?? 0)
    }
}

/// Token prices for Gemini from `prices.yaml`.
func geminiCost(_ prices: PriceTable, model: String, input: Int, output: Int) throws(ConnectorError) -> Double {
    let inputPrice = try prices.required("gemini", "per_million_input_tokens", model: model)
    let outputPrice = try prices.required("gemini", "per_million_output_tokens", model: model)
    return Double(input) / 1e6 * inputPrice + Double(output) / 1e6 * outputPrice
}

/// `gemini.analyze@1`: the lesson's video (uploaded through the Files API) and transcript, read by Gemini
/// with the prompt in `rules/prompts/` → an `Analysis` (summary, concepts, diagrams, code on screen with its
/// language, key moments with times). Cost from the reported token usage.
public struct GeminiAnalyzer: Processor {
    public static let descriptor = ProcessorDescriptor(
        id: "gemini.analyze", version: "1.0", inputs: [InputSlot("video"), InputSlot("transcript", required: false)],
        params: [ParamSpec("model", .string), ParamSpec("prompt", .string, required: true)], isPaid: true)
    public var descriptor: ProcessorDescriptor { Self.descriptor }
    let context: ConnectorContext

    public init(context: ConnectorContext) { self.context = context }

    /// Gemini counts about 300 tokens per second of video (frames and audio); the answer is short.
    static let tokensPerVideoSecond = 300.0

    public func estimateCostUSD(_ action: ActionInput) async throws -> Double {
        let seconds = try await MediaInfo.probe(action.store.blobs.path(of: action.inputs["video"]!)).durationSeconds
        return try geminiCost(context.prices, model: model(action), input: Int(seconds * Self.tokensPerVideoSecond) + 2_000, output: 2_000)
    }

    func model(_ action: ActionInput) -> String { action.params["model"]?.string ?? "gemini-2.5-flash" }

    static let schema: JSONValue = .object([
        "type": .string("OBJECT"),
        "properties": .object([
            "summary": .object(["type": .string("STRING")]),
            "concepts": .object(["type": .string("ARRAY"), "items": .object(["type": .string("STRING")])]),
            "diagrams": .object(["type": .string("ARRAY"), "items": .object(["type": .string("STRING")])]),
            "code": .object(["type": .string("ARRAY"), "items": .object([
                "type": .string("OBJECT"),
                "properties": .object(["language": .object(["type": .string("STRING")]), "code": .object(["type": .string("STRING")])]),
                "required": .array([.string("language"), .string("code")]),
            ])]),
            "keyMoments": .object(["type": .string("ARRAY"), "items": .object([
                "type": .string("OBJECT"),
                "properties": .object(["seconds": .object(["type": .string("NUMBER")]), "description": .object(["type": .string("STRING")])]),
                "required": .array([.string("seconds"), .string("description")]),
            ])]),
        ]),
        "required": .array(["summary", "concepts", "diagrams", "code", "keyMoments"].map(JSONValue.string)),
    ])

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let gemini = try GeminiClient(context: context)
        let model = model(action)
        let promptFile = action.params["prompt"]?.string ?? ""
        guard let promptDigest = action.files[promptFile] else {
            throw ProcessorFailure("gemini.analyze: `prompt: \(promptFile)` must also be listed in the rule's `files` (so editing it re-runs the analysis)")
        }
        var prompt = String(decoding: try action.store.blobs.bytes(of: promptDigest), as: UTF8.self)
        if let digest = action.inputs["transcript"] {
            let transcript = try Transcript.decode(action.store.blobs.bytes(of: digest))
            prompt += "\n\nTranscript (\(transcript.language)):\n" + transcript.segments.map { "[\(Int($0.startSeconds))s] \($0.text)" }.joined(separator: "\n")
        }
        let video = action.store.blobs.path(of: action.inputs["video"]!)
        let file = try await gemini.upload(path: video, mimeType: "video/mp4", displayName: "acervo \(action.itemID)")
        let parts: [JSONValue] = [
            .object(["file_data": .object(["mime_type": .string(file.mimeType ?? "video/mp4"), "file_uri": .string(file.uri ?? "")])]),
            .object(["text": .string(prompt)]),
        ]
        let (json, input, output) = try await gemini.generate(model: model, parts: parts, schema: Self.schema)
        let analysis: Analysis
        do { analysis = try Analysis.decode(json) } catch {
            throw ConnectorError(.badResponse, provider: GeminiClient.provider, request: "POST /v1beta/models/\(model):generateContent",
                                 message: "the answer does not follow the response schema: \(APIClient.explain(error, body: String(decoding: json, as: UTF8.self)))")
        }
        return ProcessorOutput(output: try action.store.put(bytes: analysis.encoded()).digest,
                               costUSD: try geminiCost(context.prices, model: model, input: input, output: output),
                               usage: ["input_tokens": Double(input), "output_tokens": Double(output)], provider: "Google", model: model)
    }
}

/// `gemini.classify@1`: school / topic / level chosen by Gemini among the taxonomy's own labels (enums in
/// the response schema, so it cannot invent one). Output: the same object `taxonomy.classify` writes.
public struct GeminiClassifier: Processor {
    public static let descriptor = ProcessorDescriptor(
        id: "gemini.classify", version: "1.0",
        inputs: [InputSlot("transcript", required: false), InputSlot("analysis", required: false)],
        params: [ParamSpec("model", .string), ParamSpec("taxonomy", .string)], isPaid: true)
    public var descriptor: ProcessorDescriptor { Self.descriptor }
    let context: ConnectorContext

    public init(context: ConnectorContext) { self.context = context }

    public func estimateCostUSD(_ action: ActionInput) async throws -> Double {
        try geminiCost(context.prices, model: action.params["model"]?.string ?? "gemini-2.5-flash", input: 8_000, output: 100)
    }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let gemini = try GeminiClient(context: context)
        let model = action.params["model"]?.string ?? "gemini-2.5-flash"
        let file = action.params["taxonomy"]?.string ?? "taxonomy.yaml"
        guard let digest = action.files[file] else { throw ProcessorFailure("gemini.classify needs `\(file)` in the rule's `files`") }
        let text = String(decoding: try action.store.blobs.bytes(of: digest), as: UTF8.self)
        guard let taxonomy = (try? Yams.load(yaml: text)) as? [String: Any] else { throw ProcessorFailure("rules/\(file) is not a valid taxonomy") }
        var properties: [String: JSONValue] = [:]
        var labels: [String: [String]] = [:]
        for dimension in ["school", "topic", "level"] {
            let names = ((taxonomy[dimension] as? [String: Any])?.keys).map { Array($0).sorted() } ?? []
            labels[dimension] = names + ["unclassified"]
            properties[dimension] = .object(["type": .string("STRING"), "enum": .array(labels[dimension]!.map(JSONValue.string))])
        }
        var evidence = ""
        if let digest = action.inputs["analysis"] { evidence += "Analysis:\n" + String(decoding: try action.store.blobs.bytes(of: digest), as: UTF8.self) + "\n" }
        if let digest = action.inputs["transcript"] { evidence += "Transcript:\n" + (try Transcript.decode(action.store.blobs.bytes(of: digest))).text }
        let prompt = "Classify this lesson of an online course by school, topic and level, choosing only among the allowed values "
            + "(`unclassified` when none fits).\n\n" + String(evidence.prefix(60_000))
        let schema: JSONValue = .object(["type": .string("OBJECT"), "properties": .object(properties),
                                         "required": .array([.string("school"), .string("topic"), .string("level")])])
        let (json, input, output) = try await gemini.generate(model: model, parts: [.object(["text": .string(prompt)])], schema: schema)
        let request = "POST /v1beta/models/\(model):generateContent"
        guard let object = (try? JSONDecoder().decode(JSONValue.self, from: Data(json)))?.object else {
            throw ConnectorError(.badResponse, provider: GeminiClient.provider, request: request, message: "the answer is not a JSON object")
        }
        var result: [String: JSONValue] = [:]
        for dimension in ["school", "topic", "level"] {
            guard let value = object[dimension]?.string, labels[dimension]!.contains(value) else {
                throw ConnectorError(.badResponse, provider: GeminiClient.provider, request: request,
                                     message: "`\(dimension)` is `\(object[dimension]?.canonical ?? "missing")`, not one of the taxonomy's labels")
            }
            result[dimension] = .string(value)
        }
        return ProcessorOutput(output: try action.store.put(bytes: Array(JSONValue.object(result).canonical.utf8)).digest,
                               costUSD: try geminiCost(context.prices, model: model, input: input, output: output),
                               usage: ["input_tokens": Double(input), "output_tokens": Double(output)], provider: "Google", model: model)
    }
}
