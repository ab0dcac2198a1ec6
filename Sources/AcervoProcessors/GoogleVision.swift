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
        params: [ParamSpec("languages", .languageTags), ParamSpec("batch", .integer)], isPaid: true)
    public var descriptor: ProcessorDescriptor { Self.descriptor }
    let providers: Providers

    public init(_ providers: Providers) { self.providers = providers }

    func memo(_ action: ActionInput) -> FrameTextMemo {
        FrameTextMemo(processor: "google.vision.frame", version: Self.descriptor.version,
                      languages: action.params["languages"]?.array?.compactMap(\.string) ?? [], store: action.store)
    }

    /// The features asked of each image, each billed: DOCUMENT_TEXT_DETECTION.
    static let featuresPerImage = 1

    /// What reading one image costs: Vision bills each feature asked of it.
    func pricePerImage() throws(RulesError) -> Double {
        try providers.prices.required("google.vision", "per_thousand_images", model: nil) / 1000 * Double(Self.featuresPerImage)
    }

    public func checkPrices(params: [String: JSONValue]) throws {
        _ = try pricePerImage()
    }

    /// Only frames not read before are paid for.
    public func estimate(_ action: ActionInput) async throws -> CostEstimate {
        let price = try pricePerImage()
        let memo = memo(action)
        var unread = 0
        for frame in Set(try await action.store.tree(action.inputs["frames"]!).map(\.digest)) where try await !memo.wasRead(frame) {
            unread += 1
        }
        return CostEstimate(exactly: Double(unread) * price, basis: String(format: "%d frames not read before × $%.4f", unread, price))
    }

    /// Before the frames exist: at least the first frame, at most the frames rule's `max`, about one a minute
    /// of video (a slide change) in between.
    public func estimate(fromSource source: SourceFacts) async throws -> CostEstimate? {
        guard let video = try await ProbeMemo.sourceVideo(source) else { return nil }
        let frames = source.upstream["frames"]
        let maximum = Double(frames?.processor.id == "ffmpeg.keyframes" ? frames?.params["max"]?.int ?? KeyframeExtractor.defaultMax
                                                                         : KeyframeExtractor.defaultMax)
        let count = Span(low: 1, expected: min(maximum, max(1, (video.durationSeconds / 60).rounded(.up))), high: maximum)
        let price = try pricePerImage()
        return count.cost(per: price, basis: String(format: "%@ frames of %.0f s of video × $%.4f", count.shown, video.durationSeconds, price))
    }

    /// gRPC codes Vision uses for a failure worth another try: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
    /// INTERNAL, UNAVAILABLE.
    static func isTransient(_ failure: VisionClient.Annotation.Failure) -> Bool {
        [4, 8, 10, 13, 14].contains(failure.code ?? 0)
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
        var failed: [(digest: Digest, failure: VisionClient.Annotation.Failure)] = []
        var paid = 0
        if !unread.isEmpty {
            let client = try VisionClient(context: providers.connectors)
            let batch = min(VisionClient.maxImagesPerRequest, max(1, action.params["batch"]?.int ?? VisionClient.maxImagesPerRequest))
            // Every image answered is kept at once, whatever happens to the others: it was paid for.
            func read(_ chunk: [Digest]) async throws -> [(digest: Digest, failure: VisionClient.Annotation.Failure)] {
                var images: [[UInt8]] = []
                for digest in chunk { images.append(try await action.store.blobs.bytes(of: digest)) }
                var failures: [(digest: Digest, failure: VisionClient.Annotation.Failure)] = []
                for (digest, answer) in zip(chunk, try await client.annotate(images: images, languageHints: memo.languages)) {
                    if let failure = answer.error {
                        failures.append((digest, failure))
                        continue
                    }
                    let text = ScreenText.tidy(frame: answer.fullTextAnnotation?.text ?? "")
                    try await memo.remember(text, for: digest, costUSD: price, provider: "Google")
                    texts[digest] = text
                    paid += 1
                }
                return failures
            }
            for start in stride(from: 0, to: unread.count, by: batch) {
                failed += try await read(Array(unread[start..<min(start + batch, unread.count)]))
            }
            // An image that failed for a passing reason (Vision's INTERNAL, UNAVAILABLE, …) is asked again, alone.
            let retry = providers.connectors.retry
            var attempt = 1
            while failed.contains(where: { Self.isTransient($0.failure) }) && attempt < retry.maxAttempts {
                try await retry.sleep(retry.delay(afterAttempt: attempt, retryAfterSeconds: nil))
                attempt += 1
                var still: [(digest: Digest, failure: VisionClient.Annotation.Failure)] = []
                for entry in failed {
                    still += Self.isTransient(entry.failure) ? try await read([entry.digest]) : [entry]
                }
                failed = still
            }
        }
        if let first = failed.first {
            // The images read are memoised (and their cost recorded there): the next build sends only these.
            throw ConnectorError(.failed, provider: VisionClient.provider, request: "POST /v1/images:annotate",
                                 message: "\(failed.count) of \(unread.count) frames could not be read; frame \(first.digest.hex.prefix(12)): "
                                    + "\(first.failure.message ?? "error \(first.failure.code ?? 0)")")
        }
        let screen = ScreenText(frameTexts: frames.map { texts[$0.digest] ?? "" })
        return ProcessorOutput(output: try await action.store.put(bytes: screen.encoded()).digest,
                               costUSD: Double(paid) * price,
                               usage: ["images": Double(paid), "features_per_image": Double(Self.featuresPerImage)], provider: "Google")
    }
}
