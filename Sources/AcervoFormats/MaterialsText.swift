import AcervoStore
import Foundation

/// The text of a lesson's materials, one entry per file, in name order (`materials.text`).
public struct MaterialsText: Sendable, Codable, Equatable {
    public struct Document: Sendable, Codable, Equatable {
        public var name: String
        public var text: String

        public init(name: String, text: String) {
            self.name = name
            self.text = text
        }
    }
    public var documents: [Document]

    public init(documents: [Document]) {
        self.documents = documents
    }

    public func encoded() throws(StoreError) -> [UInt8] {
        try JSONEncoder.canonicalBytes(self, what: "\(Self.self)")
    }

    public static func decode(_ bytes: [UInt8]) throws -> MaterialsText {
        try JSONDecoder().decode(MaterialsText.self, from: Data(bytes))
    }
}
