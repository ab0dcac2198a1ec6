import AcervoConnectors
import AcervoEngine
import AcervoFormats
import AcervoRules
import AcervoStore
import Foundation

/// `google.vision@1`: the text on each keyframe, read by Cloud Vision's DOCUMENT_TEXT_DETECTION with the
/// rule's language hints. Frames are sent in batches (at most 16 images per request, Vision's limit) and
/// memoised per frame digest like the local OCR, so a slide seen before costs nothing. Output: the same
/// text `tesseract@1` writes. Cost: images read × `prices.yaml`'s price per thousand.
public struct GoogleVisionOCR: Processor {
    public static let descriptor = ProcessorDescriptor(
        id: "google.vision", version: "1.0", inputs: [InputSlot("frames")],
        params: [ParamSpec("languages", .stringList), ParamSpec("batch", .integer)], isPaid: true)
    public var descriptor: ProcessorDescriptor { Self.descriptor }
    let providers: Providers

    public init(_ providers: Providers) { self.providers = providers }

    func memo(_ action: ActionInput) -> FrameTextMemo {
        FrameTextMemo(processor: "google.vision.frame", version: Self.descriptor.version,
                      languages: action.params["languages"]?.array?.compactMap(\.string) ?? [], store: action.store)
    }

    func pricePerImage() throws(RulesError) -> Double {
        try providers.prices.required("google.vision", "per_thousand_images", model: nil) / 1000
    }

    public func checkPrices(params: [String: JSONValue]) throws {
        _ = try pricePerImage()
    }

    /// Only frames not read before are paid for.
    public func estimateCostUSD(_ action: ActionInput) async throws -> Double {
        let price = try pricePerImage()
        let memo = memo(action)
        var unread = 0
        for frame in Set(try await action.store.tree(action.inputs["frames"]!).map(\.digest)) where try await !memo.wasRead(frame) {
            unread += 1
        }
        return Double(unread) * price
    }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let memo = memo(action)
        let frames = try await action.store.tree(action.inputs["frames"]!)
        let price = try pricePerImage()
        var texts: [Digest: String] = [:]
        var unread: [Digest] = []
        for frame in frames where texts[frame.digest] == nil {
            if let text = try await memo.cached(frame.digest) { texts[frame.digest] = text } else if !unread.contains(frame.digest) { unread.append(frame.digest) }
        }
        if !unread.isEmpty {
            let client = try VisionClient(context: providers.connectors)
            let batch = min(VisionClient.maxImagesPerRequest, max(1, action.params["batch"]?.int ?? VisionClient.maxImagesPerRequest))
            for start in stride(from: 0, to: unread.count, by: batch) {
                let chunk = Array(unread[start..<min(start + batch, unread.count)])
                var images: [[UInt8]] = []
                for digest in chunk { images.append(try await action.store.blobs.bytes(of: digest)) }
                let answers = try await client.annotate(images: images, languageHints: memo.languages)
                for (digest, answer) in zip(chunk, answers) {
                    if let failure = answer.error {
                        throw ConnectorError(.failed, provider: VisionClient.provider, request: "POST /v1/images:annotate",
                                             message: "frame \(digest.hex.prefix(12)): \(failure.message ?? "error \(failure.code ?? 0)")")
                    }
                    let text = ScreenText.tidy(frame: answer.fullTextAnnotation?.text ?? "")
                    try await memo.remember(text, for: digest, costUSD: price, provider: "Google")
                    texts[digest] = text
                }
            }
        }
        let screen = ScreenText(frameTexts: frames.map { texts[$0.digest] ?? "" })
        return ProcessorOutput(output: try await action.store.put(bytes: screen.encoded()).digest,
                               costUSD: Double(unread.count) * price, usage: ["images": Double(unread.count)], provider: "Google")
    }
}
