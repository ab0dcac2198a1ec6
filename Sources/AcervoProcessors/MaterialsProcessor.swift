import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import AcervoTools
import Foundation

/// `materials.text@2`: Markdown and text files (UTF-8, UTF-16 or Windows-1252, as `DecodedText` reads them)
/// and PDFs (through `pdftotext -layout`). A material that cannot be read — not text in any of those encodings,
/// a PDF that pdftotext refuses — is skipped with a warning naming it; the lesson's other materials still
/// count. A PDF that times out fails the action instead, so the next build tries it again.
///
/// Version 2 (from 1): a UTF-8 file's byte-order mark is no longer kept as text, and unreadable materials are
/// skipped instead of failing the lesson.
public struct MaterialsProcessor: Processor {
    public let descriptor = ProcessorDescriptor(id: "materials.text", version: "2.0", inputs: [InputSlot("materials")])

    public init() {}

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        var documents: [MaterialsText.Document] = []
        var warnings: [String] = []
        var metadata: [String: String] = [:]
        for entry in try await action.store.tree(action.inputs["materials"]!) {
            let text: String
            switch (entry.name as NSString).pathExtension.lowercased() {
            case "pdf":
                do {
                    let output = try await ExternalTool.run(
                        "pdftotext", ["-layout", "-enc", "UTF-8", try await action.store.blobs.file(of: entry.digest), "-"], timeoutSeconds: 120)
                    text = String(decoding: output.standardOutput, as: UTF8.self)
                } catch let failure as ExternalTool.Failure where failure.kind == .exited {
                    warnings.append("material `\(entry.name)` was skipped: pdftotext cannot read it (\(failure.said.isEmpty ? failure.description : "pdftotext: " + failure.said))")
                    continue
                }
            default:
                do {
                    let decoded = try DecodedText.decode(try await action.store.blobs.bytes(of: entry.digest))
                    if decoded.encoding != .utf8 { metadata["encoding of \(entry.name)"] = decoded.encoding.rawValue }
                    text = decoded.text
                } catch let failure as DecodedText.Failure {
                    warnings.append("material `\(entry.name)` was skipped: \(failure)")
                    continue
                }
            }
            documents.append(.init(name: entry.name, text: text.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return ProcessorOutput(output: try await action.store.put(bytes: MaterialsText(documents: documents).encoded()).digest,
                               warnings: warnings, metadata: metadata)
    }
}
