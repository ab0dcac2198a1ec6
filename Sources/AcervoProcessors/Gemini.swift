import AcervoConnectors
import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation
import Yams

/// Gemini's prices for a model from `prices.yaml`: input and output per million tokens, and where the model
/// prices them apart, audio input and tokens served from a context cache (each falls back to the input price).
struct GeminiPrices {
    var input: Double
    var output: Double
    var audioInput: Double
    var cachedInput: Double

    init(_ prices: PriceTable, model: String) throws(RulesError) {
        input = try prices.required("gemini", "per_million_input_tokens", model: model) / 1e6
        output = try prices.required("gemini", "per_million_output_tokens", model: model) / 1e6
        audioInput = (prices.price("gemini", "per_million_audio_input_tokens", model: model) ?? input * 1e6) / 1e6
        cachedInput = (prices.price("gemini", "per_million_cached_input_tokens", model: model) ?? input * 1e6) / 1e6
    }

    /// What a call was billed: the prompt at the input price (its sound at the audio price, its cached part at
    /// the cache's), the answer and the thinking at the output price.
    func cost(_ usage: GeminiClient.Usage) -> Double {
        let cached = min(usage.cachedTokens, usage.promptTokens)
        let audio = min(usage.audioPromptTokens, usage.promptTokens - cached)
        let other = usage.promptTokens - cached - audio
        return Double(other) * input + Double(audio) * audioInput + Double(cached) * cachedInput + Double(usage.billedOutputTokens) * output
    }
}

/// What a call was billed, from `usageMetadata` and `prices.yaml`.
func geminiCost(_ prices: PriceTable, model: String, usage: GeminiClient.Usage) throws(RulesError) -> Double {
    try GeminiPrices(prices, model: model).cost(usage)
}

extension GeminiClient.Usage {
    /// The usage as a result records it.
    var recorded: [String: Double] {
        var fields = ["input_tokens": Double(promptTokens), "output_tokens": Double(candidatesTokens)]
        if thoughtsTokens > 0 { fields["thought_tokens"] = Double(thoughtsTokens) }
        if cachedTokens > 0 { fields["cached_input_tokens"] = Double(cachedTokens) }
        if audioPromptTokens > 0 { fields["audio_input_tokens"] = Double(audioPromptTokens) }
        return fields
    }
}

/// The size of a rule's file (a prompt, the taxonomy), 0 when the rule lists none.
func storedSize(_ digest: Digest?, store: Store) async -> Int64 {
    guard let digest else { return 0 }
    return await store.blobs.size(of: digest) ?? 0
}

/// `gemini.analyze@1`: the lesson's video (uploaded through the Files API) and transcript, read by Gemini
/// with the prompt in `rules/prompts/` → an `Analysis` (summary, concepts, diagrams, code on screen with its
/// language, key moments with times). Cost from the reported token usage.
public struct GeminiAnalyzer: Processor {
    public static let descriptor = ProcessorDescriptor(
        id: "gemini.analyze", version: "1.0", inputs: [InputSlot("video"), InputSlot("transcript", required: false)],
        params: [ParamSpec("model", .string), ParamSpec("prompt", .string, required: true)], isPaid: true)
    public var descriptor: ProcessorDescriptor { Self.descriptor }
    let providers: Providers

    public init(_ providers: Providers) { self.providers = providers }

    /// The video's tokens, the prompt's, and the transcript's when there is one (its own length when it exists,
    /// else reckoned from the video's).
    public func estimate(_ action: ActionInput) async throws -> CostEstimate {
        let video = try await ProbeMemo.info(of: action.inputs["video"]!, store: action.store)
        var transcript: Span?
        if let digest = action.inputs["transcript"] {
            let text = try Transcript.decode(try await action.store.blobs.bytes(of: digest)).segments.reduce(0) { $0 + $1.text.count + 8 }
            transcript = GeminiTokens.text(characters: text)
        }
        return try await estimate(video: video, transcript: transcript, params: action.params, files: action.files, store: action.store)
    }

    public func estimate(fromSource source: SourceFacts) async throws -> CostEstimate? {
        guard let video = try await ProbeMemo.sourceVideo(source) else { return nil }
        let transcript = source.upstream["transcript"] != nil ? GeminiTokens.transcript(seconds: video.durationSeconds) : nil
        return try await estimate(video: video, transcript: transcript, params: source.params, files: source.files, store: source.store)
    }

    func estimate(video: MediaInfo, transcript: Span?, params: [String: JSONValue], files: [String: Digest], store: Store) async throws -> CostEstimate {
        let model = params["model"]?.string ?? "gemini-2.5-flash"
        let prompt = await storedSize(files[params["prompt"]?.string ?? ""], store: store)
        let input = GeminiTokens.video(video) + GeminiTokens.text(characters: Int(prompt)) + (transcript ?? Span(exactly: 0))
            + Span(exactly: GeminiTokens.overhead)
        let audio = GeminiTokens.audio(video)
        return try geminiEstimate(providers.prices, model: model, input: input, audio: audio, output: GeminiTokens.analysisAnswer, basis: String(
            format: "%.0f s of video%@ → %@ tokens in (%@ of them sound), %@ out with thinking", video.durationSeconds,
            transcript == nil ? "" : " and its transcript", (input + audio).shown, audio.shown, GeminiTokens.analysisAnswer.shown))
    }

    func model(_ action: ActionInput) -> String { action.params["model"]?.string ?? "gemini-2.5-flash" }

    public func checkPrices(params: [String: JSONValue]) throws {
        _ = try GeminiPrices(providers.prices, model: params["model"]?.string ?? "gemini-2.5-flash")
    }

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
        let gemini = try GeminiClient(context: providers.connectors)
        let model = model(action)
        let promptFile = action.params["prompt"]?.string ?? ""
        guard let promptDigest = action.files[promptFile] else {
            throw ProcessorFailure("gemini.analyze: `prompt: \(promptFile)` must also be listed in the rule's `files` (so editing it re-runs the analysis)")
        }
        var prompt = String(decoding: try await action.store.blobs.bytes(of: promptDigest), as: UTF8.self)
        if let digest = action.inputs["transcript"] {
            let transcript = try Transcript.decode(try await action.store.blobs.bytes(of: digest))
            prompt += "\n\nTranscript (\(transcript.language)):\n" + transcript.segments.map { "[\(Int($0.startSeconds))s] \($0.text)" }.joined(separator: "\n")
        }
        let file = try await UploadMemo(gemini: gemini, store: action.store).upload(action.inputs["video"]!, mimeType: "video/mp4",
                                                                                 displayName: "acervo \(action.itemID)")
        let parts: [JSONValue] = [
            .object(["file_data": .object(["mime_type": .string(file.mimeType ?? "video/mp4"), "file_uri": .string(file.uri ?? "")])]),
            .object(["text": .string(prompt)]),
        ]
        let (json, usage) = try await gemini.generate(model: model, parts: parts, schema: Self.schema)
        let analysis: Analysis
        do { analysis = try Analysis.decode(json) } catch {
            throw ConnectorError(.badResponse, provider: GeminiClient.provider, request: "POST /v1beta/models/\(model):generateContent",
                                 message: "the answer does not follow the response schema: \(APIClient.explain(error, body: String(decoding: json, as: UTF8.self)))")
        }
        return ProcessorOutput(output: try await action.store.put(bytes: analysis.encoded()).digest,
                               costUSD: try geminiCost(providers.prices, model: model, usage: usage),
                               usage: usage.recorded, provider: "Google", model: model)
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
    let providers: Providers

    public init(_ providers: Providers) { self.providers = providers }

    /// The taxonomy, the analysis and the transcript it reads (at most the 60,000 characters it sends).
    public func estimate(_ action: ActionInput) async throws -> CostEstimate {
        var evidence = 0
        if let digest = action.inputs["analysis"] { evidence += Int(await action.store.blobs.size(of: digest) ?? 0) }
        if let digest = action.inputs["transcript"] { evidence += try Transcript.decode(try await action.store.blobs.bytes(of: digest)).text.count }
        return try await estimate(evidence: GeminiTokens.text(characters: min(evidence, 60_000)), params: action.params, files: action.files,
                                  store: action.store, basis: "the lesson's transcript and analysis")
    }

    public func estimate(fromSource source: SourceFacts) async throws -> CostEstimate? {
        let seconds = try await ProbeMemo.sourceVideo(source)?.durationSeconds ?? 0
        var evidence = Span(exactly: 0)
        if source.upstream["transcript"] != nil { evidence = evidence + GeminiTokens.transcript(seconds: seconds) }
        if source.upstream["analysis"] != nil { evidence = evidence + GeminiTokens.analysisText }
        let cap = 60_000.0 / 3
        evidence = Span(low: min(evidence.low, cap), expected: min(evidence.expected, cap), high: min(evidence.high, cap))
        return try await estimate(evidence: evidence, params: source.params, files: source.files, store: source.store,
                                  basis: String(format: "a transcript of %.0f s of video and an analysis", seconds))
    }

    func estimate(evidence: Span, params: [String: JSONValue], files: [String: Digest], store: Store, basis: String) async throws -> CostEstimate {
        let taxonomy = await storedSize(files[params["taxonomy"]?.string ?? "taxonomy.yaml"], store: store)
        let input = evidence + GeminiTokens.text(characters: Int(taxonomy)) + Span(exactly: GeminiTokens.overhead)
        return try geminiEstimate(providers.prices, model: params["model"]?.string ?? "gemini-2.5-flash", input: input,
                                  output: GeminiTokens.classificationAnswer,
                                  basis: "\(basis) → \(input.shown) tokens in, \(GeminiTokens.classificationAnswer.shown) out with thinking")
    }

    public func checkPrices(params: [String: JSONValue]) throws {
        _ = try GeminiPrices(providers.prices, model: params["model"]?.string ?? "gemini-2.5-flash")
    }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let gemini = try GeminiClient(context: providers.connectors)
        let model = action.params["model"]?.string ?? "gemini-2.5-flash"
        let file = action.params["taxonomy"]?.string ?? "taxonomy.yaml"
        guard let digest = action.files[file] else { throw ProcessorFailure("gemini.classify needs `\(file)` in the rule's `files`") }
        let text = String(decoding: try await action.store.blobs.bytes(of: digest), as: UTF8.self)
        let root: Node?
        do { root = try YAMLDocument.compose(text, file: "rules/\(file)") } catch { throw ProcessorFailure("not a valid taxonomy: \(error)") }
        guard case .mapping(let taxonomy)? = root else { throw ProcessorFailure("rules/\(file) is not a valid taxonomy (school, topic, level)") }
        var properties: [String: JSONValue] = [:]
        var labels: [String: [String]] = [:]
        for dimension in ["school", "topic", "level"] {
            let names = taxonomy[Node(dimension)]?.mapping.map { $0.keys.compactMap(\.string).sorted() } ?? []
            labels[dimension] = names + ["unclassified"]
            properties[dimension] = .object(["type": .string("STRING"), "enum": .array(labels[dimension]!.map(JSONValue.string))])
        }
        var evidence = ""
        if let digest = action.inputs["analysis"] { evidence += "Analysis:\n" + String(decoding: try await action.store.blobs.bytes(of: digest), as: UTF8.self) + "\n" }
        if let digest = action.inputs["transcript"] { evidence += "Transcript:\n" + (try Transcript.decode(try await action.store.blobs.bytes(of: digest))).text }
        let prompt = "Classify this lesson of an online course by school, topic and level, choosing only among the allowed values "
            + "(`unclassified` when none fits).\n\n" + String(evidence.prefix(60_000))
        let schema: JSONValue = .object(["type": .string("OBJECT"), "properties": .object(properties),
                                         "required": .array([.string("school"), .string("topic"), .string("level")])])
        let (json, usage) = try await gemini.generate(model: model, parts: [.object(["text": .string(prompt)])], schema: schema)
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
        return ProcessorOutput(output: try await action.store.put(bytes: Array(JSONValue.object(result).canonical.utf8)).digest,
                               costUSD: try geminiCost(providers.prices, model: model, usage: usage),
                               usage: usage.recorded, provider: "Google", model: model)
    }
}

/// Videos uploaded to the Files API, kept by their digest while Gemini keeps them (48 hours): an analysis run
/// again within that time — an edited prompt re-runs every lesson's, a failed call is tried again the next
/// night — sends no video again. A file Gemini no longer has (expired, deleted, another project's key) is
/// uploaded again.
struct UploadMemo {
    let gemini: GeminiClient
    let store: Store
    /// Files older than this are not trusted even when Gemini states no expiry.
    static let lifetime: TimeInterval = 47 * 3600

    struct Stored: Codable {
        var file: GeminiClient.File
        var uploadedAt: Date
    }

    var memo: PaidPieceMemo {
        PaidPieceMemo(processor: "gemini.upload", version: "1.0", params: ["api": .string(gemini.baseURL)], input: "file", store: store)
    }

    func upload(_ digest: Digest, mimeType: String, displayName: String, now: Date = Date()) async throws -> GeminiClient.File {
        if let bytes = try await memo.stored(for: digest), let stored = try? JSONDecoder().decode(Stored.self, from: Data(bytes)),
           now.timeIntervalSince(stored.uploadedAt) < Self.lifetime, !Self.expires(stored.file, before: now.addingTimeInterval(3600)),
           let current = try? await gemini.file(named: stored.file.name), current.state == "ACTIVE", current.uri != nil {
            return current
        }
        let file = try await gemini.upload(path: try await store.blobs.file(of: digest), mimeType: mimeType, displayName: displayName)
        try await memo.remember(Array(try JSONEncoder.canonical.encode(Stored(file: file, uploadedAt: now))), for: digest, provider: "Google")
        return file
    }

    /// Whether Gemini said the file expires before `date`.
    static func expires(_ file: GeminiClient.File, before date: Date) -> Bool {
        guard let text = file.expirationTime else { return false }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let expiry = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { return false }
        return expiry < date
    }
}
