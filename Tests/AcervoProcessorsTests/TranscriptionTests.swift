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

/// A store with a generated FLAC, a connector context pointed at fakes.
final class TranscriptionBench: Sendable {
    let directory = TemporaryDirectory("acervo-stt")
    let store: Store
    let context: ConnectorContext
    let google: FakeGoogle
    let openAI: FakeOpenAI

    init() async throws {
        store = try await Store.open(at: directory.path + "/store")
        google = try await FakeGoogle.start()
        openAI = try await FakeOpenAI.start()
        let credentials = try google.writeServiceAccount(into: directory.path)
        context = ConnectorContext(
            environment: ConnectorEnvironment([
                "GOOGLE_APPLICATION_CREDENTIALS": credentials, "ACERVO_SPEECH_URL": google.baseURL,
                "OPENAI_API_KEY": openAI.apiKey, "OPENAI_BASE_URL": openAI.baseURL,
            ]),
            retry: RetryPolicy(maxAttempts: 4, baseDelaySeconds: 0.01, maxDelaySeconds: 0.05))
    }

    func close() async {
        await context.shutdown()
        await google.stop()
        await openAI.stop()
    }

    /// A mono 16 kHz FLAC of `seconds` (a tone: the fakes answer from the duration, not the sound).
    func audio(seconds: Int) async throws -> Digest {
        let path = directory.path + "/tone-\(seconds).flac"
        let outcome = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=\(seconds)",
                                              "-ar", "16000", "-ac", "1", "-c:a", "flac", path])
        #expect(outcome.status == 0, "ffmpeg is needed (scripts/setup installs it): \(outcome.stderr)")
        return try await store.put(fileAt: path).digest
    }

    func action(_ audio: Digest, params: [String: JSONValue] = [:]) -> ActionInput {
        ActionInput(itemID: "m/l", rule: "transcript", inputs: ["audio": audio], params: params, files: [:], store: store)
    }

    func transcript(_ output: ProcessorOutput) async throws -> Transcript {
        try Transcript.decode(try await store.blobs.bytes(of: output.output))
    }
}

@Suite("Google auth and transcription", .serialized)
struct TranscriptionTests {
    @Test("google.stt cuts long audio into overlapping pieces, stitches them without repeating a word, and costs the billed duration")
    func googleLongAudio() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 130)
        let processor = GoogleSpeechTranscriber(Providers(connectors: bench.context, prices: repositoryPrices))
        let action = bench.action(audio, params: ["languages": .array([.string("es-ES"), .string("pt-BR")]), "model": .string("chirp_2")])

        let estimate = try await processor.estimate(action)
        let output = try await processor.run(action)

        let transcript = try await bench.transcript(output)
        let starts = transcript.segments.flatMap { $0.words ?? [] }.map(\.startSeconds)
        #expect(starts == (0..<130).map(Double.init), "one word per second, none lost or repeated at the seams")
        #expect(transcript.segments.allSatisfy { $0.words?.allSatisfy { $0.confidence == 0.9 } == true })
        #expect(transcript.language == "es-ES" && transcript.source == "google.stt", "Speech-to-Text says `es-es`; BCP-47 says `es-ES`")
        #expect(bench.google.recognizeRequests.map { $0["seconds"] } == ["55.0", "55.0", "24.0"])
        #expect(bench.google.recognizeRequests.allSatisfy { $0["languages"] == "es-ES,pt-BR" && $0["model"] == "chirp_2" })
        #expect(output.usage["billed_seconds"] == 134)
        #expect(abs(output.costUSD - 134.0 / 60 * 0.016) < 1e-9)
        #expect(abs(estimate.expectedUSD - 134.0 / 60 * 0.016) < 1e-6)
        #expect(estimate.lowUSD <= output.costUSD && output.costUSD <= estimate.highUSD)
        #expect(estimate.basis == "130 s of audio in 3 pieces at $0.0160/min")
        #expect(output.provider == "Google" && output.model == "chirp_2")
        // One token for all three requests: it is cached until it expires.
        #expect(bench.google.calls["POST /token"] == 1)
        #expect(bench.google.violations.isEmpty)
        await bench.close()
    }

    @Test("a piece failing past its retries fails the action, and the next run sends only that piece: the others were paid once")
    func piecesPaidOnce() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 130)
        let processor = GoogleSpeechTranscriber(Providers(connectors: bench.context, prices: repositoryPrices))
        let action = bench.action(audio, params: ["languages": .array([.string("es-ES")]), "model": .string("chirp_2")])
        // The third piece (24 s) keeps failing: the first two are answered and billed, then the action fails.
        bench.google.poisonRecognize(seconds: 24, with: .error(503, "The service is currently unavailable."))
        await #expect(throws: (any Error).self) { try await processor.run(action) }
        #expect(bench.google.recognizeRequests.map { $0["seconds"] } == ["55.0", "55.0"])

        bench.google.healRecognize()
        bench.google.resetCounts()
        let output = try await processor.run(action)
        #expect(bench.google.recognizeRequests.map { $0["seconds"] } == ["24.0"], "only the piece that was never answered")
        #expect(output.usage["reused_pieces"] == 2 && output.usage["billed_seconds"] == 24)
        #expect(abs(output.costUSD - 24.0 / 60 * 0.016) < 1e-9, "this run paid for one piece")
        let starts = try await bench.transcript(output).segments.flatMap { $0.words ?? [] }.map(\.startSeconds)
        #expect(starts == (0..<130).map(Double.init), "the stitched transcript is whole")
        // The pieces paid in the failed run are on record with their cost.
        let pieces = try await bench.store.actionCache.results(processor: "google.stt.piece")
        #expect(pieces.count == 3)
        let recorded: Double = pieces.map(\.costUSD).reduce(0, +)
        let paid: Double = 134.0 / 60 * 0.016
        #expect(abs(recorded - paid) < 1e-9)
        await bench.close()
    }

    @Test("an expired token is refreshed once on the 401 and the request goes through")
    func tokenRefresh() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 5)
        let processor = GoogleSpeechTranscriber(Providers(connectors: bench.context, prices: repositoryPrices))
        _ = try await processor.run(bench.action(audio))
        bench.google.expireTokens()
        // Other audio: the first piece's answer is kept, so the same audio would send nothing.
        _ = try await processor.run(bench.action(try await bench.audio(seconds: 6)))
        #expect(bench.google.calls["POST /token"] == 2)
        #expect(bench.google.calls["POST :recognize"] == 3, "the refused call, then the retried one")
        await bench.close()
    }

    @Test("a missing or broken service account is a configuration error that says what to fix")
    func badCredentials() async throws {
        let missing = ConnectorContext(environment: ConnectorEnvironment([:]))
        let error = #expect(throws: ConnectorError.self) { try missing.googleTokens() }
        #expect(error?.description == "Google: set GOOGLE_APPLICATION_CREDENTIALS to a service account's JSON key file")
        let directory = TemporaryDirectory("acervo-sa")
        try #"{"client_email": "x@y", "private_key": "not a key"}"#.write(toFile: directory.path + "/sa.json", atomically: true, encoding: .utf8)
        let broken = ConnectorContext(environment: ConnectorEnvironment(["GOOGLE_APPLICATION_CREDENTIALS": directory.path + "/sa.json"]))
        let keyError = #expect(throws: ConnectorError.self) { try broken.googleTokens() }
        #expect(keyError?.description.contains("private_key is not an RSA key in PEM form") == true)
    }

    @Test("the JWT is RS256 over base64url header and claims, valid for at most an hour")
    func assertionShape() async throws {
        let bench = try await TranscriptionBench()
        let tokens = try bench.context.googleTokens()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let parts = try tokens.assertion(now: now).split(separator: ".").map(String.init)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.contains("=") && !$0.contains("+") && !$0.contains("/") })
        let claims = try #require(FakeGoogleClaims.decode(parts[1]))
        #expect(claims["iss"] as? String == bench.google.clientEmail)
        #expect(claims["aud"] as? String == bench.google.tokenURL)
        #expect(claims["scope"] as? String == "https://www.googleapis.com/auth/cloud-platform")
        #expect(claims["iat"] as? Double == 1_800_000_000 && claims["exp"] as? Double == 1_800_003_600)
        await bench.close()
    }

    @Test("openai.transcribe sends the audio as multipart, keeps segments and words, and costs the reported duration")
    func openAITranscription() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 25)
        let processor = OpenAITranscriber(Providers(connectors: bench.context, prices: repositoryPrices))
        let output = try await processor.run(bench.action(audio, params: ["model": .string("whisper-1"), "language": .string("es")]))
        let transcript = try await bench.transcript(output)
        #expect(transcript.segments.count == 3)
        #expect(transcript.segments.flatMap { $0.words ?? [] }.count == 25)
        #expect(transcript.language == "es" && transcript.source == "openai.transcribe")
        #expect(bench.openAI.calls["POST /audio/transcriptions"] == 1)
        #expect(abs(output.costUSD - 25.0 / 60 * 0.006) < 1e-6)
        #expect(bench.openAI.violations.isEmpty)
        await bench.close()
    }

    @Test("openai.transcribe splits audio longer than chunk_seconds and stitches the pieces")
    func openAIChunks() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 50)
        let output = try await OpenAITranscriber(Providers(connectors: bench.context, prices: repositoryPrices)).run(bench.action(audio, params: ["chunk_seconds": .number(20)]))
        let starts = try await bench.transcript(output).segments.flatMap { $0.words ?? [] }.map(\.startSeconds)
        #expect(starts == (0..<50).map(Double.init))
        #expect(bench.openAI.transcriptionSeconds.count == 3)
        await bench.close()
    }

    @Test("openai.transcribe: a piece failing past its retries fails the action; the next run sends only that piece")
    func openAIPiecesPaidOnce() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 50)
        let processor = OpenAITranscriber(Providers(connectors: bench.context, prices: repositoryPrices))
        let action = bench.action(audio, params: ["chunk_seconds": .number(20)])
        // Pieces of 20, 20 and 14 s (2 s overlaps): the last keeps failing.
        bench.openAI.poisonTranscription(seconds: 14)
        await #expect(throws: (any Error).self) { try await processor.run(action) }
        #expect(bench.openAI.transcriptionSeconds.filter { $0 > 15 }.count == 2)
        bench.openAI.healTranscription()
        let output = try await processor.run(action)
        #expect(bench.openAI.transcriptionSeconds.map { Int($0.rounded()) } == [14], "only the piece that was never answered")
        #expect(output.usage["reused_pieces"] == 2)
        let billed = try #require(output.usage["billed_seconds"])
        #expect(billed < 15 && abs(output.costUSD - billed / 60 * 0.006) < 1e-12, "this run paid for one piece")
        let transcript = try await bench.transcript(output)
        let starts: [Double] = transcript.segments.flatMap { $0.words ?? [] }.map(\.startSeconds)
        #expect(starts == (0..<50).map(Double.init), "the stitched transcript is whole")
        #expect(transcript.language == "es", "Whisper says `spanish`; the transcript says BCP-47")
        await bench.close()
    }

    @Test("openai.transcribe cuts a 330 s, 31 MB file so that every request is under 25 MB, whatever chunk_seconds says")
    func openAIBySize() async throws {
        let bench = try await TranscriptionBench()
        let path = bench.directory.path + "/noise.flac"
        // White noise compresses badly: 330 s at 32 kHz is about 31 MB of FLAC.
        let made = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=330:c=white:r=32000:a=0.5",
                                           "-ac", "1", "-c:a", "flac", path])
        #expect(made.status == 0, "\(made.stderr)")
        let audio = try await bench.store.put(fileAt: path).digest
        let size = try #require(await bench.store.blobs.size(of: audio))
        #expect(size > 25 << 20, "the file is over the limit: \(size) bytes")
        let output = try await OpenAITranscriber(Providers(connectors: bench.context, prices: repositoryPrices)).run(bench.action(audio))
        #expect(bench.openAI.violations.isEmpty, "\(bench.openAI.violations)")
        #expect(bench.openAI.transcriptionSeconds.count >= 2)
        let starts = try await bench.transcript(output).segments.flatMap { $0.words ?? [] }.map(\.startSeconds)
        #expect(starts == (0..<330).map(Double.init), "stitched whole")
        await bench.close()
    }

    @Test("gpt-4o transcription models, which answer only `json`, are refused when the rules load")
    func gpt4oRefused() throws {
        let loader = RulesLoader(catalog: ProcessorCatalog.descriptors, sourceArtifacts: ["video"])
        let rules = { (model: String) in
            """
            rules:
              audio: { processor: ffmpeg.audio@1, input: video }
              speech: { processor: openai.transcribe@1, input: audio, params: { model: \(model) } }
            sink: { kind: local, document: speech }
            """
        }
        #expect {
            _ = try loader.parse(rules("gpt-4o-mini-transcribe"), file: "pipeline.yaml", directory: "rules")
        } throws: { error in
            guard let error = error as? RulesError else { return false }
            return error.location?.line == 3 && error.message.hasPrefix("rule `speech`: openai.transcribe cannot use model `gpt-4o-mini-transcribe`: its only response format is `json`")
                && error.fix == "set `model` to one of whisper-1"
        }
        _ = try loader.parse(rules("whisper-1"), file: "pipeline.yaml", directory: "rules")
    }

    @Test("a paid processor without a price in prices.yaml refuses to run rather than record a zero cost")
    func unpriced() async throws {
        let bench = try await TranscriptionBench()
        let audio = try await bench.audio(seconds: 3)
        let unpriced = GoogleSpeechTranscriber(Providers(connectors: bench.context, prices: PriceTable()))
        let error = await #expect(throws: RulesError.self) { try await unpriced.run(bench.action(audio)) }
        #expect(error?.description == "prices.yaml has no price for google.stt per minute of `chirp_2`; "
            + "add `google.stt: { per_minute: { chirp_2: DOLLARS } }` to rules/prices.yaml with the provider's price")
        await #expect(throws: RulesError.self) { try await unpriced.estimate(bench.action(audio)) }
        #expect(bench.google.calls["POST :recognize"] == nil, "nothing was sent")
        await bench.close()
    }
}

enum FakeGoogleClaims {
    static func decode(_ part: String) -> [String: Any]? {
        var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}
