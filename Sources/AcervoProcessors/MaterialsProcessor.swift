import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation

/// The text of a lesson's materials, one entry per file, in name order.
public struct MaterialsText: Sendable, Codable, Equatable {
    public struct Document: Sendable, Codable, Equatable {
        public var name: String
        public var text: String
    }
    public var documents: [Document]

    func encoded() -> [UInt8] {
        Array(try! JSONEncoder.canonical.encode(self))
    }

    static func decode(_ bytes: [UInt8]) throws -> MaterialsText {
        try JSONDecoder().decode(MaterialsText.self, from: Data(bytes))
    }
}

/// `materials.text@1`: Markdown and text files as they are, PDFs through `pdftotext -layout`.
public struct MaterialsProcessor: Processor {
    public let descriptor = ProcessorDescriptor(id: "materials.text", version: "1.0", inputs: [InputSlot("materials")])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        var documents: [MaterialsText.Document] = []
        for entry in try action.store.tree(action.inputs["materials"]!) {
            let text: String
            switch (entry.name as NSString).pathExtension.lowercased() {
            case "pdf":
                let output = try await ExternalTool.run(
                    "pdftotext", ["-layout", "-enc", "UTF-8", action.store.blobs.path(of: entry.digest), "-"], timeoutSeconds: 120)
                text = String(decoding: output.standardOutput, as: UTF8.self)
            default:
                let bytes = try action.store.blobs.bytes(of: entry.digest)
                guard let decoded = String(validating: bytes, as: UTF8.self) else {
                    throw ProcessorFailure("material `\(entry.name)` is not UTF-8 text")
                }
                text = decoded
            }
            documents.append(.init(name: entry.name, text: text.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return ProcessorOutput(output: try action.store.put(bytes: MaterialsText(documents: documents).encoded()).digest)
    }
}
