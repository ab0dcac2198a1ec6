import AcervoConnectors
import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// Joins the transcripts of overlapping windows: of each window it keeps what starts between the middles of
/// its overlaps with the previous and the next window, so a word heard in both is kept once.
enum TranscriptStitching {
    struct Piece {
        var start: Double
        var end: Double
        /// Times already absolute (the window's start added).
        var segments: [Transcript.Segment]
    }

    static func stitch(_ pieces: [Piece]) -> [Transcript.Segment] {
        var result: [Transcript.Segment] = []
        for (index, piece) in pieces.enumerated() {
            let lower = index == 0 ? -Double.infinity : (piece.start + pieces[index - 1].end) / 2
            let upper = index == pieces.count - 1 ? Double.infinity : (pieces[index + 1].start + piece.end) / 2
            let inside = { (time: Double) in time >= lower && time < upper }
            for segment in piece.segments {
                guard let words = segment.words, !words.isEmpty else {
                    if inside(segment.startSeconds) { result.append(segment) }
                    continue
                }
                let kept = words.filter { inside($0.startSeconds) }
                guard let first = kept.first, let last = kept.last else { continue }
                var trimmed = segment
                if kept.count != words.count {
                    trimmed.text = kept.map(\.text).joined(separator: " ")
                    trimmed.startSeconds = first.startSeconds
                    trimmed.endSeconds = last.endSeconds
                }
                trimmed.words = kept
                result.append(trimmed)
            }
        }
        return result
    }

    static func shifted(_ segment: Transcript.Segment, by offset: Double) -> Transcript.Segment {
        var segment = segment
        segment.startSeconds += offset
        segment.endSeconds += offset
        segment.words = segment.words?.map { word in
            var word = word
            word.startSeconds += offset
            word.endSeconds += offset
            return word
        }
        return segment
    }
}

/// The audio input of a transcription action: its file in the store and its duration.
struct AudioInput {
    var path: String
    var durationSeconds: Double
    var sizeBytes: Int64

    init(_ action: ActionInput) async throws {
        guard let digest = action.inputs["audio"] else { throw ProcessorFailure("no `audio` input") }
        path = try await action.store.blobs.file(of: digest)
        sizeBytes = await action.store.blobs.size(of: digest) ?? 0
        durationSeconds = try await ProbeMemo.info(of: digest, store: action.store).durationSeconds
    }
}

/// The pieces of one transcription: the seconds paid for now, and how many were answered in an earlier, failed
/// run (recorded then) — the cost of this run is the pieces paid now.
struct PieceTally {
    var billedSeconds = 0.0
    var reused = 0

    /// A piece's paid seconds, or nil for one answered before.
    mutating func add(_ paidSeconds: Double?) {
        if let paidSeconds { billedSeconds += paidSeconds } else { reused += 1 }
    }

    var usage: [String: Double] {
        reused > 0 ? ["billed_seconds": billedSeconds, "reused_pieces": Double(reused)] : ["billed_seconds": billedSeconds]
    }
}

/// The seconds of speech a transcription will be sent, from the lesson's video when its audio is not extracted
/// yet (the audio is the video's sound track: the same length, within a frame).
func sourceSpeechSeconds(_ source: SourceFacts) async throws -> Double? {
    guard let video = try await ProbeMemo.sourceVideo(source), video.hasAudio else { return nil }
    return video.durationSeconds
}

/// `openai.transcribe@1`: speech to text through an OpenAI-compatible `/audio/transcriptions` endpoint
/// (OpenAI itself, or a self-hosted Whisper server at `OPENAI_BASE_URL`). Files past the size limit are cut
/// into overlapping pieces and stitched. Cost: the billed duration × `prices.yaml`'s per-minute price.
public struct OpenAITranscriber: Processor {
    public static let descriptor = ProcessorDescriptor(
        id: "openai.transcribe", version: "1.0", inputs: [InputSlot("audio")],
        params: [ParamSpec("model", .string), ParamSpec("language", .string), ParamSpec("chunk_seconds", .number)], isPaid: true,
        constraints: [ParamConstraint(
            when: "model", default: "whisper-1", in: ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"], param: "model", default: "whisper-1",
            allowed: ["whisper-1"],
            reason: "its only response format is `json`, without the segment and word timestamps a transcript here keeps",
            source: "platform.openai.com/docs/api-reference/audio/createTranscription, read 2026-11")])
    public var descriptor: ProcessorDescriptor { Self.descriptor }
    /// OpenAI's per-file limit is 25 MB; a little margin for the multipart envelope.
    static let maxUploadBytes: Int64 = 24 << 20

    let providers: Providers

    public init(_ providers: Providers) { self.providers = providers }

    func model(_ action: ActionInput) -> String { action.params["model"]?.string ?? "whisper-1" }

    /// How long each piece may be: what `chunk_seconds` asks, but short enough that a piece of this audio (at its
    /// own bytes per second, with a tenth to spare) stays under the upload limit — 1,200 s of poorly compressible
    /// audio is more than 25 MB.
    static func pieceSeconds(requested: Double, audio: AudioInput) -> Double {
        guard audio.durationSeconds > 0, audio.sizeBytes > 0 else { return requested }
        let bytesPerSecond = Double(audio.sizeBytes) / audio.durationSeconds
        let fitting = (Double(maxUploadBytes) * 0.9 / bytesPerSecond).rounded(.down)
        return max(10, min(requested, fitting))
    }

    public func checkPrices(params: [String: JSONValue]) throws {
        _ = try providers.prices.required("openai.transcribe", "per_minute", model: params["model"]?.string ?? "whisper-1")
    }

    public func estimate(_ action: ActionInput) async throws -> CostEstimate {
        try estimate(seconds: try await AudioInput(action).durationSeconds, model: model(action), of: "audio")
    }

    public func estimate(fromSource source: SourceFacts) async throws -> CostEstimate? {
        try await sourceSpeechSeconds(source).map { try estimate(seconds: $0, model: source.params["model"]?.string ?? "whisper-1", of: "video") }
    }

    /// Billed by the minute of audio sent; pieces of a long file overlap by 2 s each.
    func estimate(seconds: Double, model: String, of what: String) throws -> CostEstimate {
        let price = try providers.prices.required("openai.transcribe", "per_minute", model: model)
        let sent = Span(low: seconds * 0.98, expected: seconds, high: seconds * 1.02 + 2 * (seconds / 600).rounded(.up))
        return (sent * (1.0 / 60)).cost(per: price, basis: String(format: "%.0f s of %@ at $%.4f/min", seconds, what, price))
    }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let client = try OpenAITranscriptionClient(context: providers.connectors)
        let model = model(action)
        let price = try providers.prices.required("openai.transcribe", "per_minute", model: model)
        let audio = try await AudioInput(action)
        let chunkSeconds = Self.pieceSeconds(requested: action.params["chunk_seconds"]?.number ?? 1200, audio: audio)
        var pieces: [TranscriptStitching.Piece] = []
        var tally = PieceTally()
        var language = action.params["language"]?.string
        // Cut only when needed: one request is cheaper and keeps the provider's own segmentation.
        let needsCutting = audio.sizeBytes > Self.maxUploadBytes || audio.durationSeconds > chunkSeconds
        let (clips, scratch) = needsCutting
            ? try await AudioClips.cut(audio.path, duration: audio.durationSeconds, length: chunkSeconds, overlap: 2)
            : ([AudioClips.Clip(startSeconds: 0, durationSeconds: audio.durationSeconds, path: audio.path)], nil)
        defer { _ = scratch }
        // Each piece's answer is kept as soon as it is paid for: when a later piece fails, the next build sends
        // only what was not answered.
        var memoParams: [String: JSONValue] = ["model": .string(model)]
        if let requested = action.params["language"]?.string { memoParams["language"] = .string(requested) }
        let memo = PaidPieceMemo(processor: "openai.transcribe.piece", version: Self.descriptor.version, params: memoParams, input: "audio",
                                 store: action.store)
        for clip in clips {
            let bytes = try clip.bytes()
            let (response, paidSeconds) = try await memo.answer(
                for: Digest.of(bytes), pricePerUnit: price / 60, provider: "OpenAI", model: model,
                billedUnits: { (response: OpenAITranscriptionClient.Response) in response.duration ?? clip.durationSeconds }
            ) {
                try await client.transcribe(flac: bytes, model: model, language: action.params["language"]?.string, durationSeconds: clip.durationSeconds)
            }
            tally.add(paidSeconds)
            language = language ?? response.language
            pieces.append(.init(start: clip.startSeconds, end: clip.startSeconds + clip.durationSeconds,
                                segments: Self.segments(response, clipDuration: clip.durationSeconds).map { TranscriptStitching.shifted($0, by: clip.startSeconds) }))
        }
        let transcript = Transcript(language: language ?? "und", source: "openai.transcribe", segments: TranscriptStitching.stitch(pieces))
        guard !transcript.segments.isEmpty else { throw ProcessorFailure("OpenAI returned no speech for this audio") }
        return ProcessorOutput(output: try await action.store.put(bytes: transcript.encoded()).digest, costUSD: tally.billedSeconds / 60 * price,
                               usage: tally.usage, provider: "OpenAI", model: model)
    }

    /// Segments with the words that fall inside each; a plain `json` answer becomes one segment.
    static func segments(_ response: OpenAITranscriptionClient.Response, clipDuration: Double) -> [Transcript.Segment] {
        let words = (response.words ?? []).map { Transcript.Word(text: $0.word.trimmingCharacters(in: .whitespaces), startSeconds: $0.start, endSeconds: $0.end) }
        guard let segments = response.segments, !segments.isEmpty else {
            let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? [] : [Transcript.Segment(startSeconds: 0, endSeconds: response.duration ?? clipDuration, text: text,
                                                          words: words.isEmpty ? nil : words)]
        }
        return segments.map { segment in
            let inside = words.filter { $0.startSeconds >= segment.start && $0.startSeconds < segment.end }
            return Transcript.Segment(startSeconds: segment.start, endSeconds: segment.end,
                                      text: segment.text.trimmingCharacters(in: .whitespacesAndNewlines), words: inside.isEmpty ? nil : inside)
        }
    }
}

/// `google.stt@1`: Google Speech-to-Text v2 `recognize`, on pieces of at most `chunk_seconds` (the synchronous
/// limit is about a minute) overlapping by `overlap_seconds`, stitched; word offsets and confidences kept.
/// Cost: the billed duration Google reports (`metadata.totalBilledDuration`) × `prices.yaml`.
public struct GoogleSpeechTranscriber: Processor {
    public static let descriptor = ProcessorDescriptor(
        id: "google.stt", version: "1.0", inputs: [InputSlot("audio")],
        params: [ParamSpec("model", .string), ParamSpec("languages", .languageTags), ParamSpec("location", .string),
                 ParamSpec("recognizer", .string), ParamSpec("project", .string), ParamSpec("chunk_seconds", .number),
                 ParamSpec("overlap_seconds", .number)],
        isPaid: true,
        constraints: [ParamConstraint(
            when: "model", default: "chirp_2", in: ["chirp_2"], param: "location", default: regionalDefaultLocation,
            allowed: ["us-central1", "europe-west4", "asia-southeast1"],
            reason: "Chirp 2 is a regional model, served only in us-central1, europe-west4 and asia-southeast1",
            source: "cloud.google.com/speech-to-text/v2/docs/speech-to-text-supported-languages, read 2026-11")])

    /// Where a regional model runs when the rule names no location.
    static let regionalDefaultLocation = "us-central1"
    static let regionalModels: Set<String> = ["chirp_2"]
    public var descriptor: ProcessorDescriptor { Self.descriptor }

    let providers: Providers

    public init(_ providers: Providers) { self.providers = providers }

    func model(_ action: ActionInput) -> String { action.params["model"]?.string ?? "chirp_2" }

    public func checkPrices(params: [String: JSONValue]) throws {
        _ = try providers.prices.required("google.stt", "per_minute", model: params["model"]?.string ?? "chirp_2")
    }

    public func estimate(_ action: ActionInput) async throws -> CostEstimate {
        try estimate(seconds: try await AudioInput(action).durationSeconds, params: action.params, of: "audio")
    }

    public func estimate(fromSource source: SourceFacts) async throws -> CostEstimate? {
        try await sourceSpeechSeconds(source).map { try estimate(seconds: $0, params: source.params, of: "video") }
    }

    /// Each piece is billed for its length, rounded up to the second (so the overlaps are paid twice).
    func estimate(seconds: Double, params: [String: JSONValue], of what: String) throws -> CostEstimate {
        let price = try providers.prices.required("google.stt", "per_minute", model: params["model"]?.string ?? "chirp_2")
        let windows = AudioClips.windows(duration: seconds, length: params["chunk_seconds"]?.number ?? 55,
                                         overlap: params["overlap_seconds"]?.number ?? 2)
        let sent = windows.reduce(0) { $0 + $1.end - $1.start }
        let billed = Span(low: sent * 0.98, expected: windows.reduce(0) { $0 + ($1.end - $1.start).rounded(.up) },
                          high: windows.reduce(0) { $0 + ($1.end - $1.start).rounded(.up) + 1 } + sent * 0.02)
        return (billed * (1.0 / 60)).cost(per: price, basis: String(format: "%.0f s of %@ in %d pieces at $%.4f/min", seconds, what, windows.count, price))
    }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let client = try GoogleSpeechClient(context: providers.connectors, project: action.params["project"]?.string,
                                            location: action.params["location"]?.string
                                                ?? (Self.regionalModels.contains(model(action)) ? Self.regionalDefaultLocation : "global"),
                                            recognizer: action.params["recognizer"]?.string ?? "_")
        let model = model(action)
        let price = try providers.prices.required("google.stt", "per_minute", model: model)
        let languages = action.params["languages"]?.array?.compactMap(\.string) ?? ["es-ES"]
        let audio = try await AudioInput(action)
        let (clips, scratch) = try await AudioClips.cut(audio.path, duration: audio.durationSeconds,
                                                        length: action.params["chunk_seconds"]?.number ?? 55,
                                                        overlap: action.params["overlap_seconds"]?.number ?? 2)
        defer { _ = scratch }
        var pieces: [TranscriptStitching.Piece] = []
        var tally = PieceTally()
        var detectedLanguage: String?
        // Each piece's answer is kept as soon as it is paid for: when a later piece fails, the next build sends
        // only what was not answered.
        let memo = PaidPieceMemo(processor: "google.stt.piece", version: Self.descriptor.version,
                                 params: ["model": .string(model), "languages": .array(languages.map(JSONValue.string)),
                                          "location": .string(client.location), "recognizer": .string(client.recognizer)],
                                 input: "audio", store: action.store)
        for clip in clips {
            let bytes = try clip.bytes()
            let (response, paidSeconds) = try await memo.answer(
                for: Digest.of(bytes), pricePerUnit: price / 60, provider: "Google", model: model,
                billedUnits: { (response: GoogleSpeechClient.Response) in
                    response.metadata?.totalBilledDuration.flatMap(GoogleSpeechClient.seconds) ?? clip.durationSeconds
                }
            ) {
                try await client.recognize(audio: bytes, languages: languages, model: model)
            }
            tally.add(paidSeconds)
            var segments: [Transcript.Segment] = []
            var previousEnd = 0.0
            for result in response.results ?? [] {
                guard let best = result.alternatives?.first, let text = best.transcript?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { continue }
                detectedLanguage = detectedLanguage ?? result.languageCode
                let words = (best.words ?? []).map { word in
                    Transcript.Word(text: word.word, startSeconds: word.startOffset.flatMap(GoogleSpeechClient.seconds) ?? previousEnd,
                                    endSeconds: word.endOffset.flatMap(GoogleSpeechClient.seconds) ?? previousEnd, confidence: word.confidence)
                }
                let end = result.resultEndOffset.flatMap(GoogleSpeechClient.seconds) ?? words.last?.endSeconds ?? previousEnd
                segments.append(TranscriptStitching.shifted(
                    Transcript.Segment(startSeconds: words.first?.startSeconds ?? previousEnd, endSeconds: end, text: text,
                                       confidence: best.confidence, words: words.isEmpty ? nil : words), by: clip.startSeconds))
                previousEnd = end
            }
            pieces.append(.init(start: clip.startSeconds, end: clip.startSeconds + clip.durationSeconds, segments: segments))
        }
        let transcript = Transcript(language: detectedLanguage ?? languages.first ?? "und", source: "google.stt", segments: TranscriptStitching.stitch(pieces))
        guard !transcript.segments.isEmpty else { throw ProcessorFailure("Google Speech-to-Text heard no speech in this audio") }
        return ProcessorOutput(output: try await action.store.put(bytes: transcript.encoded()).digest, costUSD: tally.billedSeconds / 60 * price,
                               usage: tally.usage, provider: "Google", model: model)
    }
}
