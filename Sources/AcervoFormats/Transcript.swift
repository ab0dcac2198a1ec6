import AcervoRules
import AcervoStore
import Foundation

/// What every transcription processor produces (captions, Google STT, OpenAI-compatible): timed segments
/// in one language. Encoded with sorted keys so the same transcript is always the same bytes (early cutoff).
public struct Transcript: Sendable, Codable, Equatable {
    public struct Segment: Sendable, Codable, Equatable {
        public var startSeconds: Double
        public var endSeconds: Double
        public var text: String
        /// The recogniser's confidence (0…1), when it reports one.
        public var confidence: Double?
        /// Word timings, when the recogniser reports them (absent for captions: the bytes of a captions
        /// transcript are unchanged by this field's existence).
        public var words: [Word]?
        /// Who speaks, when the source says (a WebVTT voice, `<v Ana>`); absent otherwise, so transcripts
        /// without speakers keep their bytes.
        public var speaker: String?

        public init(startSeconds: Double, endSeconds: Double, text: String, confidence: Double? = nil, words: [Word]? = nil,
                    speaker: String? = nil) {
            self.startSeconds = startSeconds
            self.endSeconds = endSeconds
            self.text = text
            self.confidence = confidence
            self.words = words
            self.speaker = speaker
        }
    }

    public struct Word: Sendable, Codable, Equatable {
        public var text: String
        public var startSeconds: Double
        public var endSeconds: Double
        public var confidence: Double?

        public init(text: String, startSeconds: Double, endSeconds: Double, confidence: Double? = nil) {
            self.text = text
            self.startSeconds = startSeconds
            self.endSeconds = endSeconds
            self.confidence = confidence
        }
    }

    /// BCP-47 (`es`, `pt-BR`), whatever the provider answered: new transcripts are written so, and older
    /// ones are read so.
    public var language: String
    /// `captions`, `google.stt`, …
    public var source: String
    public var segments: [Segment]

    public init(language: String, source: String, segments: [Segment]) {
        self.language = LanguageTag.normalized(language)
        self.source = source
        self.segments = segments
    }

    public var text: String { segments.map(\.text).joined(separator: " ") }

    public func encoded() throws(StoreError) -> [UInt8] {
        try JSONEncoder.canonicalBytes(self, what: "\(Self.self)")
    }

    public static func decode(_ bytes: [UInt8]) throws -> Transcript {
        var transcript = try JSONDecoder().decode(Transcript.self, from: Data(bytes))
        transcript.language = LanguageTag.normalized(transcript.language)
        return transcript
    }
}
