import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// `materials.text@1`: Markdown and text files as they are, PDFs through `pdftotext -layout`.
public struct MaterialsProcessor: Processor {
    public let descriptor = ProcessorDescriptor(id: "materials.text", version: "1.0", inputs: [InputSlot("materials")])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        var documents: [MaterialsText.Document] = []
        for entry in try await action.store.tree(action.inputs["materials"]!) {
            let text: String
            switch (entry.name as NSString).pathExtension.lowercased() {
            case "pdf":
                let output = try await ExternalTool.run(
                    "pdftotext", ["-layout", "-enc", "UTF-8", try await action.store.blobs.file(of: entry.digest), "-"], timeoutSeconds: 120)
                text = String(decoding: output.standardOutput, as: UTF8.self)
            default:
                let bytes = try await action.store.blobs.bytes(of: entry.digest)
                guard let decoded = String(validating: bytes, as: UTF8.self) else {
                    throw ProcessorFailure("material `\(entry.name)` is not UTF-8 text")
                }
                text = decoded
            }
            documents.append(.init(name: entry.name, text: text.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return ProcessorOutput(output: try await action.store.put(bytes: MaterialsText(documents: documents).encoded()).digest)
    }
}
