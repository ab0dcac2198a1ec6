import AcervoStore
import Foundation

/// What a multimodal analysis of a lesson found (`gemini.analyze`): a summary, the concepts taught, diagrams
/// described in words, code shown on screen, and moments worth jumping to. Canonical JSON, so the same
/// analysis is always the same bytes.
public struct Analysis: Sendable, Codable, Equatable {
    public struct Code: Sendable, Codable, Equatable {
        public var language: String
        public var code: String
        public init(language: String, code: String) {
            self.language = language
            self.code = code
        }
    }

    public struct Moment: Sendable, Codable, Equatable {
        public var seconds: Double
        public var description: String
        public init(seconds: Double, description: String) {
            self.seconds = seconds
            self.description = description
        }
    }

    public var summary: String
    public var concepts: [String]
    public var diagrams: [String]
    public var code: [Code]
    public var keyMoments: [Moment]

    public init(summary: String, concepts: [String], diagrams: [String], code: [Code], keyMoments: [Moment]) {
        self.summary = summary
        self.concepts = concepts
        self.diagrams = diagrams
        self.code = code
        self.keyMoments = keyMoments
    }

    public func encoded() throws(StoreError) -> [UInt8] { try JSONEncoder.canonicalBytes(self, what: "\(Self.self)") }

    public static func decode(_ bytes: [UInt8]) throws -> Analysis { try JSONDecoder().decode(Analysis.self, from: Data(bytes)) }
}
