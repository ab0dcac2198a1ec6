import AcervoEngine
import AcervoFakeServers
import AcervoFormats
import AcervoRules
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoConnectors
@testable import AcervoProcessors

@Suite("Cloud Vision OCR", .serialized)
struct GoogleVisionTests {
    @Test("frames go in batches of at most 16 with the language hints; a frame read before is not sent again")
    func batchesAndMemo() async throws {
        let directory = TemporaryDirectory("acervo-vision")
        let google = try await FakeGoogle.start()
        // 20 PNG frames (the fake reads their size as their text; some are alike).
        let (store, context, processor, action, frames) = try await frames(directory, google, count: 20, source: "testsrc=s=64x48",
                                                                            languages: ["es", "pt"])
        #expect(abs(try await processor.estimate(action).expectedUSD - Double(Set(frames).count) * 0.0015) < 1e-12)
        let output = try await processor.run(action)
        let distinct = Set(frames).count
        #expect(google.calls["POST /v1/images:annotate"] == (distinct + 15) / 16)
        #expect(google.imagesRead == distinct)
        #expect(google.languageHints.allSatisfy { $0 == ["es", "pt"] })
        #expect(abs(output.costUSD - Double(distinct) * 1.50 / 1000) < 1e-12)
        let text = String(decoding: try await store.blobs.bytes(of: output.output), as: UTF8.self)
        #expect(text.contains("listas en python") && text.contains("Diapositiva"))

        // The same frames in another lesson: read from the memo, nothing sent, nothing paid.
        let again = try await processor.run(ActionInput(itemID: "m/other", rule: "ocr", inputs: action.inputs,
                                                         params: action.params, files: [:], store: store))
        #expect(google.imagesRead == distinct && again.costUSD == 0 && again.output == output.output)
        #expect(try await processor.estimate(action).expectedUSD == 0)
        #expect(google.violations.isEmpty)
        await context.shutdown()
        await google.stop()
    }

    /// `count` PNG frames of an ffmpeg test source in a store, a context on the fake, the processor and its action.
    private func frames(_ directory: TemporaryDirectory, _ google: FakeGoogle, count: Int = 16, source: String = "testsrc2=s=96x64",
                        languages: [String] = ["es"]) async throws
        -> (store: Store, context: ConnectorContext, processor: GoogleVisionOCR, action: ActionInput, frames: [Digest]) {
        let store = try await Store.open(at: directory.path + "/store")
        let context = ConnectorContext(
            environment: ConnectorEnvironment(["GOOGLE_APPLICATION_CREDENTIALS": try google.writeServiceAccount(into: directory.path),
                                               "ACERVO_VISION_URL": google.baseURL]),
            retry: RetryPolicy(maxAttempts: 3, baseDelaySeconds: 0.01, maxDelaySeconds: 0.02))
        let outcome = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "\(source):d=\(count):r=1",
                                              directory.path + "/frame-%02d.png"])
        #expect(outcome.status == 0, "ffmpeg is needed (scripts/setup installs it): \(outcome.stderr)")
        var entries: [TreeEntry] = []
        for index in 1...count {
            let stored = try await store.put(fileAt: directory.path + String(format: "/frame-%02d.png", index))
            entries.append(TreeEntry(name: String(format: "%04d.png", index), digest: stored.digest, size: stored.size))
        }
        let processor = GoogleVisionOCR(Providers(connectors: context, prices: repositoryPrices))
        let action = ActionInput(itemID: "m/l", rule: "ocr", inputs: ["frames": try await store.putTree(entries)],
                                 params: ["languages": .array(languages.map(JSONValue.string))], files: [:], store: store)
        return (store, context, processor, action, entries.map(\.digest))
    }

    @Test("one image failing in a batch of 16: the other 15 are kept, and the next build sends only the failed one")
    func oneImageFails() async throws {
        let directory = TemporaryDirectory("acervo-vision-fail")
        let google = try await FakeGoogle.start()
        // testsrc2 changes every frame: 16 different images.
        let (store, context, processor, action, frames) = try await frames(directory, google)
        #expect(Set(frames).count == 16)
        // The fifth frame fails, always, with INVALID_ARGUMENT (not worth a retry).
        let bad = try await store.blobs.bytes(of: frames[4])
        google.failImage(bad, code: 3, times: -1)
        await #expect(throws: ConnectorError.self) { try await processor.run(action) }
        #expect(google.calls["POST /v1/images:annotate"] == 1)
        #expect(google.imagesRead == 16 && google.imagesAnswered == 15)

        // The image is fine again: the next build reads only it, and pays for only it.
        google.failImage(bad, code: 3, times: 0)
        #expect(abs(try await processor.estimate(action).expectedUSD - 0.0015) < 1e-12)
        let output = try await processor.run(action)
        #expect(google.calls["POST /v1/images:annotate"] == 2)
        #expect(google.imagesRead == 17 && google.imagesAnswered == 16)
        #expect(abs(output.costUSD - 0.0015) < 1e-12 && output.usage["images"] == 1)
        await context.shutdown()
        await google.stop()
    }

    @Test("an image failing for a passing reason (INTERNAL) is asked again alone, and the action succeeds")
    func transientImageFailure() async throws {
        let directory = TemporaryDirectory("acervo-vision-retry")
        let google = try await FakeGoogle.start()
        let (store, context, processor, action, frames) = try await frames(directory, google)
        google.failImage(try await store.blobs.bytes(of: frames[9]), code: 13, times: 1)
        let output = try await processor.run(action)
        #expect(google.calls["POST /v1/images:annotate"] == 2, "the batch, then the one image")
        #expect(google.imagesRead == 17 && google.imagesAnswered == 16)
        #expect(abs(output.costUSD - 16 * 0.0015) < 1e-12)
        #expect(google.violations.isEmpty)
        await context.shutdown()
        await google.stop()
    }
}
