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

@Suite("Gemini analysis and classification", .serialized)
struct GeminiTests {
    final class Bench: Sendable {
        let directory = TemporaryDirectory("acervo-gemini")
        let store: Store
        let gemini: FakeGemini
        let context: ConnectorContext
        let video: Digest
        let prompt: Digest
        let taxonomy: Digest

        init() async throws {
            store = try await Store.open(at: directory.path + "/store")
            gemini = try await FakeGemini.start()
            context = ConnectorContext(
                environment: ConnectorEnvironment(["GEMINI_API_KEY": gemini.apiKey, "ACERVO_GEMINI_URL": gemini.baseURL, "ACERVO_GEMINI_POLL_SECONDS": "0.01"]),
                retry: RetryPolicy(maxAttempts: 3, baseDelaySeconds: 0.01, maxDelaySeconds: 0.02))
            let path = directory.path + "/lesson.mp4"
            let outcome = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=s=160x120:d=2",
                                                  "-c:v", "libx264", "-pix_fmt", "yuv420p", path])
            #expect(outcome.status == 0, "ffmpeg is needed (scripts/setup installs it): \(outcome.stderr)")
            video = try await store.put(fileAt: path).digest
            prompt = try await store.ingest(fileAt: repositoryRoot + "/rules/prompts/analyze.md", kind: .derived).digest
            taxonomy = try await store.ingest(fileAt: repositoryRoot + "/rules/taxonomy.yaml", kind: .derived).digest
        }

        func close() async {
            await context.shutdown()
            await gemini.stop()
        }
    }

    @Test("gemini.analyze uploads the video resumably, waits for ACTIVE, and stores an analysis with its token cost")
    func analyze() async throws {
        let bench = try await Bench()
        let action = ActionInput(itemID: "m/l", rule: "analysis", inputs: ["video": bench.video], params: ["prompt": .string("prompts/analyze.md")],
                                 files: ["prompts/analyze.md": bench.prompt], store: bench.store)
        let output = try await GeminiAnalyzer(Providers(connectors: bench.context, prices: repositoryPrices)).run(action)
        let analysis = try Analysis.decode(try await bench.store.blobs.bytes(of: output.output))
        #expect(analysis.summary == "texto de ejemplo" && analysis.code.first?.language == "texto de ejemplo" && analysis.keyMoments.first?.seconds == 12)
        #expect(bench.gemini.calls["POST /upload/v1beta/files (start)"] == 1)
        #expect(bench.gemini.calls["POST /upload/v1beta/files (finalize)"] == 1)
        #expect(bench.gemini.calls["GET /v1beta/files/{name}"] == 2, "PROCESSING, then ACTIVE")
        #expect(bench.gemini.uploadedBytes == [Int(await bench.store.blobs.size(of: bench.video)!)])
        let input = try #require(output.usage["input_tokens"])
        // The thinking tokens are billed at the output price, with the answer's.
        #expect(output.usage["output_tokens"] == 250 && output.usage["thought_tokens"] == 125)
        #expect(abs(output.costUSD - (input / 1e6 * 0.30 + (250 + 125) / 1e6 * 2.50)) < 1e-12)
        #expect(bench.gemini.violations.isEmpty)
        await bench.close()
    }

    @Test("a video's sound is billed at the audio price, and the estimate reckons it so; the range holds what is recorded")
    func soundPricedApart() async throws {
        let bench = try await Bench()
        let path = bench.directory.path + "/with-sound.mp4"
        let made = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:r=5:d=30",
                                           "-f", "lavfi", "-i", "sine=frequency=440:duration=30", "-shortest", "-c:v", "libx264",
                                           "-pix_fmt", "yuv420p", "-c:a", "aac", path])
        #expect(made.status == 0, "\(made.stderr)")
        let video = try await bench.store.put(fileAt: path).digest
        let action = ActionInput(itemID: "m/l", rule: "analysis", inputs: ["video": video], params: ["prompt": .string("prompts/analyze.md")],
                                 files: ["prompts/analyze.md": bench.prompt], store: bench.store)
        let processor = GeminiAnalyzer(Providers(connectors: bench.context, prices: repositoryPrices))
        let estimate = try await processor.estimate(action)
        let output = try await processor.run(action)
        let input = try #require(output.usage["input_tokens"]), audio = try #require(output.usage["audio_input_tokens"])
        #expect(abs(audio - 30 * 32) <= 32, "32 tokens a second of sound: \(audio)")
        // gemini-2.5-flash: $0.30 a million for text and frames, $1.00 for sound, $2.50 for the answer and the thinking.
        #expect(abs(output.costUSD - ((input - audio) * 0.30e-6 + audio * 1.00e-6 + (250 + 125) * 2.50e-6)) < 1e-12)
        #expect(estimate.lowUSD <= output.costUSD && output.costUSD <= estimate.highUSD, "\(estimate) against \(output.costUSD)")
        #expect(estimate.basis.contains("of them sound"), "\(estimate.basis)")

        // Prompt tokens served from a context cache are billed at the cache's price ($0.03 a million).
        bench.gemini.setCachedTokens(1_000)
        let cachedRun = try await processor.run(ActionInput(itemID: "m/l2", rule: "analysis", inputs: ["video": video],
                                                            params: ["prompt": .string("prompts/analyze.md")],
                                                            files: ["prompts/analyze.md": bench.prompt], store: bench.store))
        let prompt = try #require(cachedRun.usage["input_tokens"]), sound = try #require(cachedRun.usage["audio_input_tokens"])
        #expect(cachedRun.usage["cached_input_tokens"] == 1_000)
        #expect(abs(cachedRun.costUSD - ((prompt - sound - 1_000) * 0.30e-6 + sound * 1.00e-6 + 1_000 * 0.03e-6 + 375 * 2.50e-6)) < 1e-12)
        await bench.close()
    }

    @Test("a video is uploaded once while Gemini keeps it: an edited prompt sends no video again; an expired file is sent again")
    func uploadedOnce() async throws {
        let bench = try await Bench()
        let processor = GeminiAnalyzer(Providers(connectors: bench.context, prices: repositoryPrices))
        func analyze(prompt: String) async throws {
            let digest = try await bench.store.put(bytes: Array(prompt.utf8)).digest
            _ = try await processor.run(ActionInput(itemID: "m/l", rule: "analysis", inputs: ["video": bench.video],
                                                    params: ["prompt": .string("prompts/analyze.md")],
                                                    files: ["prompts/analyze.md": digest], store: bench.store))
        }
        try await analyze(prompt: "Analyse the lesson.")
        try await analyze(prompt: "Analyse the lesson briefly.")
        #expect(bench.gemini.calls["POST /upload/v1beta/files (start)"] == 1, "the second analysis used the file already uploaded")
        #expect(bench.gemini.calls["POST :generateContent"] == 2)

        // Gemini no longer has it: it is uploaded again, and that upload is the one kept.
        bench.gemini.expireFiles()
        try await analyze(prompt: "Analyse the lesson once more.")
        #expect(bench.gemini.calls["POST /upload/v1beta/files (start)"] == 2)
        // Past the Files API's 48 hours it is not even asked for.
        let client = try GeminiClient(context: bench.context)
        let polls = bench.gemini.calls["GET /v1beta/files/{name}"] ?? 0
        _ = try await UploadMemo(gemini: client, store: bench.store).upload(bench.video, mimeType: "video/mp4", displayName: "later",
                                                                             now: Date().addingTimeInterval(49 * 3600))
        #expect(bench.gemini.calls["POST /upload/v1beta/files (start)"] == 3)
        #expect(bench.gemini.calls["GET /v1beta/files/{name}"] == polls + 2, "only the new upload's polls")
        #expect(bench.gemini.violations.isEmpty)
        await bench.close()
    }

    @Test("the prompt must be a rule file, so that editing it re-runs the analysis")
    func promptMustBeAFile() async throws {
        let bench = try await Bench()
        let action = ActionInput(itemID: "m/l", rule: "analysis", inputs: ["video": bench.video], params: ["prompt": .string("prompts/analyze.md")],
                                 files: [:], store: bench.store)
        await #expect(throws: ProcessorFailure.self) { try await GeminiAnalyzer(Providers(connectors: bench.context, prices: repositoryPrices)).run(action) }
        await bench.close()
    }

    @Test("a generation stopped for safety is an error naming Gemini and the request")
    func finishReason() async throws {
        let bench = try await Bench()
        bench.gemini.setFinishReason("SAFETY")
        let action = ActionInput(itemID: "m/l", rule: "analysis", inputs: ["video": bench.video], params: ["prompt": .string("prompts/analyze.md")],
                                 files: ["prompts/analyze.md": bench.prompt], store: bench.store)
        let error = await #expect(throws: ConnectorError.self) { try await GeminiAnalyzer(Providers(connectors: bench.context, prices: repositoryPrices)).run(action) }
        #expect(error?.description.contains("Gemini POST /v1beta/models/gemini-2.5-flash:generateContent: generation stopped with `SAFETY`") == true)
        await bench.close()
    }

    @Test("gemini.classify answers only with the taxonomy's labels; anything else is refused")
    func classify() async throws {
        let bench = try await Bench()
        let transcript = try await bench.store.put(bytes: Transcript(language: "es", source: "captions",
                                                               segments: [.init(startSeconds: 0, endSeconds: 2, text: "listas en python")]).encoded()).digest
        let action = ActionInput(itemID: "m/l", rule: "class", inputs: ["transcript": transcript], params: [:],
                                 files: ["taxonomy.yaml": bench.taxonomy], store: bench.store)
        let output = try await GeminiClassifier(Providers(connectors: bench.context, prices: repositoryPrices)).run(action)
        let result = try JSONDecoder().decode(JSONValue.self, from: Data(try await bench.store.blobs.bytes(of: output.output))).object ?? [:]
        #expect(result["school"]?.string == "diseno" && result["topic"] != nil && result["level"] != nil, "the first label of each, as the fake answers")
        bench.gemini.answerOutsideEnum(true)
        let error = await #expect(throws: ConnectorError.self) { try await GeminiClassifier(Providers(connectors: bench.context, prices: repositoryPrices)).run(action) }
        #expect(error?.description.contains("is `\"astrology\"`, not one of the taxonomy's labels") == true)
        await bench.close()
    }

    @Test("waiting for an uploaded file to be processed stops at once when the task is cancelled")
    func pollingHonoursCancellation() async throws {
        let bench = try await Bench()
        bench.gemini.setPollsBeforeActive(Int.max)
        let client = try GeminiClient(context: bench.context)
        let path = try await bench.store.blobs.file(of: bench.video)
        let upload = Task { try await client.upload(path: path, mimeType: "video/mp4", displayName: "lesson") }
        while bench.gemini.calls["GET /v1beta/files/{name}", default: 0] < 2 { await Task.yield() }
        upload.cancel()
        let result = await upload.result
        guard case .failure(let error as ConnectorError) = result else {
            Issue.record("the upload should end with a cancellation, not \(result)")
            return
        }
        #expect(error.kind == .cancelled, "a cancellation, not a provider that kept failing: \(error)")
        await bench.close()
    }
}
