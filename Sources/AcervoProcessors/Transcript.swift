import AcervoStore
import Foundation

/// What every transcription processor produces (captions, Google STT, OpenAI-compatible): timed segments
/// in one language. Encoded with sorted keys so the same transcript is always the same bytes (early cutoff).
public struct Transcript: Sendable, Codable, Equatable {
    public struct Segment: Sendable, Codable, Equatable {
        public var startSeconds: Double
        public var endSeconds: Double
        public var text: String
    }

    public var language: String
    /// `captions`, `google.stt`, …
    public var source: String
    public var segments: [Segment]

    public var text: String { segments.map(\.text).joined(separator: " ") }

    func encoded() -> [UInt8] {
        Array(try! JSONEncoder.canonical.encode(self))
    }

    static func decode(_ bytes: [UInt8]) throws -> Transcript {
        try JSONDecoder().decode(Transcript.self, from: Data(bytes))
    }
}
