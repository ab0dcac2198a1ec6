import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// A quantity known only within a range (tokens, billed seconds, images), and the figure expected in it.
struct Span: Sendable, Equatable {
    var low: Double
    var expected: Double
    var high: Double

    init(low: Double, expected: Double, high: Double) {
        self.low = low
        self.expected = expected
        self.high = high
    }

    init(exactly value: Double) { self.init(low: value, expected: value, high: value) }

    static func + (a: Span, b: Span) -> Span { Span(low: a.low + b.low, expected: a.expected + b.expected, high: a.high + b.high) }
    static func * (a: Span, factor: Double) -> Span { Span(low: a.low * factor, expected: a.expected * factor, high: a.high * factor) }

    /// The range at `price` per unit, with what it is reckoned from.
    func cost(per price: Double, basis: String) -> CostEstimate {
        CostEstimate(lowUSD: low * price, expectedUSD: expected * price, highUSD: high * price, basis: basis)
    }

    /// `1,200–3,000 (2,000)`, or one figure when known exactly.
    var shown: String {
        func number(_ value: Double) -> String { Int(value.rounded()).formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US"))) }
        return low == high ? number(expected) : "\(number(low))–\(number(high)) (\(number(expected)))"
    }
}

/// What ffprobe says of a stored video or audio file, kept by the file's digest: plans ask for the durations of
/// every lesson each time they run, a build's media rules (`ffprobe`, `ffmpeg.audio`, `ffmpeg.keyframes`) each
/// need it of the same video, and a probe of a long video reads its whole index.
public enum ProbeMemo {
    static func memo(_ store: Store) -> PaidPieceMemo {
        PaidPieceMemo(processor: "ffprobe.memo", version: "1.0", params: [:], input: "media", store: store)
    }

    public static func info(of digest: Digest, store: Store) async throws -> MediaInfo {
        let memo = memo(store)
        if let stored = try await memo.stored(for: digest), let info = try? MediaInfo.decode(stored) { return info }
        let info = try await MediaInfo.probe(try await store.blobs.file(of: digest))
        try await memo.remember(info.encoded(), for: digest)
        return info
    }

    /// The lesson's video, when it has one, from its source artifacts.
    static func sourceVideo(_ source: SourceFacts) async throws -> MediaInfo? {
        guard let video = source.artifacts["video"] else {
            // Not fetched yet (a plan on a fresh catalog): the host's word for its length, and speech assumed.
            return source.unfetched["video"]?.durationSeconds.map { MediaInfo(durationSeconds: $0, audioCodec: "unknown") }
        }
        return try await info(of: video, store: source.store)
    }
}

/// How Gemini counts what it is sent, from its documentation (ai.google.dev/gemini-api/docs/tokens, read
/// 2026-11): video at 263 tokens per second (a frame a second), its sound at 32 per second, text at about four
/// characters a token.
enum GeminiTokens {
    static let perVideoSecond = 263.0
    static let perAudioSecond = 32.0
    /// The instructions and the response schema around a prompt.
    static let overhead = 300.0

    /// The frames' tokens; the sound's are `audio`.
    static func video(_ info: MediaInfo) -> Span {
        let tokens = info.durationSeconds * perVideoSecond
        return Span(low: tokens * 0.95, expected: tokens, high: tokens * 1.05)
    }

    static func audio(_ info: MediaInfo) -> Span {
        Span(exactly: info.hasAudio ? info.durationSeconds * perAudioSecond : 0)
    }

    static func text(characters: Int) -> Span {
        let count = Double(characters)
        return Span(low: count / 5, expected: count / 4, high: count / 3)
    }

    /// A transcript not written yet, from the length of the speech: about 15 characters a second (150 words a
    /// minute), between a slow 6 and a fast 24, plus the `[12s] ` marks of each segment.
    static func transcript(seconds: Double) -> Span {
        Span(low: seconds * 6 / 5, expected: seconds * 15 / 4, high: seconds * 24 / 3)
    }

    /// What the answers of each processor take, thinking included (gemini-2.5 models think by default, billed
    /// at the output price): a range wide enough for a model that thinks long.
    static let analysisAnswer = Span(low: 300, expected: 1_500, high: 12_000)
    static let classificationAnswer = Span(low: 20, expected: 400, high: 4_000)
    /// An analysis not written yet, as the classifier reads it.
    static let analysisText = Span(low: 200, expected: 800, high: 3_000)
}

/// The range of a Gemini call at the model's prices: input at the input price (sound at the audio price), the
/// answer and the thinking at the output's.
func geminiEstimate(_ prices: PriceTable, model: String, input: Span, audio: Span = Span(exactly: 0), output: Span,
                    basis: String) throws(RulesError) -> CostEstimate {
    let price = try GeminiPrices(prices, model: model)
    let total = input * price.input + audio * price.audioInput + output * price.output
    return CostEstimate(lowUSD: total.low, expectedUSD: total.expected, highUSD: total.high, basis: basis)
}
