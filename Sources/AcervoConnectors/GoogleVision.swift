import AcervoEngine
import AcervoProcessors
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
    static let provider = "Google Vision"
    let context: ConnectorContext

    public init(context: ConnectorContext) { self.context = context }

    func memo(_ action: ActionInput) -> FrameTextMemo {
        FrameTextMemo(processor: "google.vision.frame", version: Self.descriptor.version,
                      languages: action.params["languages"]?.array?.compactMap(\.string) ?? [], store: action.store)
    }

    func pricePerImage() throws(ConnectorError) -> Double {
        try context.prices.required("google.vision", "per_thousand_images", model: nil) / 1000
    }

    /// Only frames not read before are paid for.
    public func estimateCostUSD(_ action: ActionInput) async throws -> Double {
        let memo = memo(action)
        let frames = Set(try action.store.tree(action.inputs["frames"]!).map(\.digest))
        let unread = try frames.filter { try !memo.wasRead($0) }.count
        return Double(unread) * (try pricePerImage())
    }

    struct Response: Decodable {
        struct Annotated: Decodable {
            struct FullText: Decodable { var text: String? }
            struct Failure: Decodable {
                var code: Int?
                var message: String?
            }
            var fullTextAnnotation: FullText?
            var error: Failure?
        }
        var responses: [Annotated]
    }

    public func run(_ action: ActionInput) async throws -> ProcessorOutput {
        let memo = memo(action)
        let frames = try action.store.tree(action.inputs["frames"]!)
        let price = try pricePerImage()
        var texts: [Digest: String] = [:]
        var unread: [Digest] = []
        for frame in frames where texts[frame.digest] == nil {
            if let text = try memo.cached(frame.digest) { texts[frame.digest] = text } else if !unread.contains(frame.digest) { unread.append(frame.digest) }
        }
        if !unread.isEmpty {
            let api = try context.googleAPI(provider: Self.provider)
            let url = context.environment.baseURL("ACERVO_VISION_URL", default: "https://vision.googleapis.com") + "/v1/images:annotate"
            let batch = min(16, max(1, action.params["batch"]?.int ?? 16))
            for start in stride(from: 0, to: unread.count, by: batch) {
                let chunk = Array(unread[start..<min(start + batch, unread.count)])
                let requests: [JSONValue] = try chunk.map { digest in
                    .object([
                        "image": .object(["content": .string(Data(try action.store.blobs.bytes(of: digest)).base64EncodedString())]),
                        "features": .array([.object(["type": .string("DOCUMENT_TEXT_DETECTION")])]),
                        "imageContext": .object(["languageHints": .array(memo.languages.map(JSONValue.string))]),
                    ])
                }
                let request = try APIRequest.json("POST", url, JSONValue.object(["requests": .array(requests)]), timeoutSeconds: 120)
                let response = try await api.json(request, as: Response.self)
                guard response.responses.count == chunk.count else {
                    throw ConnectorError(.badResponse, provider: Self.provider, request: request.label,
                                         message: "\(response.responses.count) answers for \(chunk.count) images")
                }
                for (digest, answer) in zip(chunk, response.responses) {
                    if let failure = answer.error {
                        throw ConnectorError(.failed, provider: Self.provider, request: request.label,
                                             message: "frame \(digest.hex.prefix(12)): \(failure.message ?? "error \(failure.code ?? 0)")")
                    }
                    let text = (answer.fullTextAnnotation?.text ?? "").split(separator: "\n")
                        .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "\n")
                    try memo.remember(text, for: digest, costUSD: price, provider: "Google")
                    texts[digest] = text
                }
            }
        }
        var ordered: [String] = []
        for frame in frames {
            let text = texts[frame.digest] ?? ""
            if !text.isEmpty && ordered.last != text { ordered.append(text) }
        }
        return ProcessorOutput(output: try action.store.put(bytes: Array(ordered.joined(separator: "\n\n").utf8)).digest,
                               costUSD: Double(unread.count) * price, usage: ["images": Double(unread.count)], provider: "Google")
    }
}
