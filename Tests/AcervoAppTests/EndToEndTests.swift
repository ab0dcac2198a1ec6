import AcervoEngine
import AcervoFakeServers
import AcervoStore
import AcervoTestSupport
import Crypto
import Foundation
import Testing
@testable import AcervoConnectors

/// Hotmart → download → Google Speech-to-Text → document → OpenAI vector store, through the `acervo` binary,
/// every provider a fake on 127.0.0.1 counting what it receives.
@Suite(.serialized) struct EndToEndTests {
    final class World: Sendable {
        let directory = TemporaryDirectory("acervo-e2e")
        let hotmart: FakeHotmart
        let media: FakeMediaServer
        let google: FakeGoogle
        let openAI: FakeOpenAI
        let credentials: String
        let lessons: [String: [UInt8]]

        init(faults: Double = 0) async throws {
            let injector = { (seed: UInt64) in faults > 0 ? FaultInjector(rate: faults, seed: seed, slowSeconds: 0.2) : nil }
            hotmart = try await FakeHotmart.start(faults: injector(1))
            media = try await FakeMediaServer.start()
            google = try await FakeGoogle.start(faults: injector(2))
            openAI = try await FakeOpenAI.start(faults: injector(3))
            credentials = try google.writeServiceAccount(into: directory.path)
            var lessons: [String: [UInt8]] = [:]
            for (index, (name, seconds)) in [("intro", 3), ("variables", 4), ("listas", 3), ("funciones", 5), ("clases", 3), ("intro-v2", 4)].enumerated() {
                lessons[name] = try Self.video(name, seconds: seconds, tone: 300 + index * 70, in: directory.path)
            }
            self.lessons = lessons
            for (name, bytes) in lessons { media.put("/media/\(name).mp4", bytes) }
            try FileManager.default.createDirectory(atPath: directory.path + "/project/rules", withIntermediateDirectories: true)
            for file in ["taxonomy.yaml", "prices.yaml"] {
                try FileManager.default.copyItem(atPath: repositoryRoot + "/rules/" + file, toPath: directory.path + "/project/rules/" + file)
            }
            try """
                source: { kind: hotmart, subdomain: curso-python, course: Python desde cero, media: { manifest: media.json } }
                rules:
                  audio: { processor: ffmpeg.audio@1, input: video, params: { rate: 16000, channels: 1 } }
                  transcript: { processor: google.stt@1, input: audio, params: { languages: [es-ES], model: chirp_2 } }
                  class: { processor: taxonomy.classify@1, inputs: { transcript: transcript }, files: [taxonomy.yaml] }
                  document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: transcript, class: class } }
                sink: { kind: openai, document: document, attributes: class, vector_store: support-kb }
                """.write(toFile: directory.path + "/project/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        }

        func close() async {
            await hotmart.stop()
            await media.stop()
            await google.stop()
            await openAI.stop()
        }

        static func video(_ name: String, seconds: Int, tone: Int, in directory: String) throws -> [UInt8] {
            let path = directory + "/\(name).mp4"
            let outcome = try run("/usr/bin/env", [
                "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:d=\(seconds)",
                "-f", "lavfi", "-i", "sine=frequency=\(tone):duration=\(seconds)", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-c:a", "aac", path,
            ])
            #expect(outcome.status == 0, "ffmpeg is needed (scripts/setup installs it): \(outcome.stderr)")
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        }

        /// Publishes a catalog: page id → (title, media file); the manifest gives each video's digest.
        func publish(_ pages: [(id: String, title: String, file: String)]) throws {
            var modules: [FakeHotmart.Module] = []
            for (index, chunk) in stride(from: 0, to: pages.count, by: 3).map({ Array(pages[$0..<min($0 + 3, pages.count)]) }).enumerated() {
                modules.append(.init("m\(index + 1)", "Módulo \(index + 1)", sequence: index + 1,
                                     lessons: chunk.enumerated().map { .init($0.element.id, $0.element.title, sequence: $0.offset + 1) }))
            }
            hotmart.setCatalog(modules)
            var manifest: [String: Any] = [:]
            for page in pages {
                let bytes = lessons[page.file]!
                manifest[page.id] = ["video": ["url": media.baseURL + "/media/\(page.file).mp4", "sha256": Digest.of(bytes).hex, "size": bytes.count]]
            }
            try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys]).write(to: URL(fileURLWithPath: directory.path + "/project/media.json"))
        }

        struct Output: Decodable {
            struct Failure: Decodable {
                var item: String
                var rule: String
                var error: String
            }
            var run: String
            var executed: Int
            var failed: Int
            var failures: [Failure]
            var snapshot: String?
            var sync: SyncReport?
        }

        func build(expecting status: Int32 = 0) async throws -> Output {
            let outcome = try await acervoOffPool(["build", "--json"], in: directory.path + "/project", environment: [
                "HOTMART_CLIENT_ID": hotmart.clientID, "HOTMART_CLIENT_SECRET": hotmart.clientSecret,
                "ACERVO_HOTMART_AUTH_URL": hotmart.baseURL, "ACERVO_HOTMART_API_URL": hotmart.baseURL,
                "GOOGLE_APPLICATION_CREDENTIALS": credentials, "ACERVO_SPEECH_URL": google.baseURL,
                "OPENAI_API_KEY": openAI.apiKey, "OPENAI_BASE_URL": openAI.baseURL,
                "ACERVO_RETRY_ATTEMPTS": "10", "ACERVO_RETRY_BASE_SECONDS": "0.01",
            ])
            #expect(outcome.status == status, "\(outcome.stderr)\n\(outcome.stdout)")
            for secret in [hotmart.clientSecret, openAI.apiKey] { #expect(!outcome.stderr.contains(secret) && !outcome.stdout.contains(secret)) }
            return try decodeJSON(Output.self, outcome.stdout)
        }

        /// The vector store as item → title, checking every file is indexed, present once, and still uploaded.
        func vectorStore() -> [String: String] {
            let files = Set(openAI.files.map(\.id))
            var contents: [String: String] = [:]
            for entry in openAI.entries(ofStoreNamed: "support-kb") {
                let item = entry.attributes["item_id"] ?? "?"
                #expect(entry.status == "completed")
                #expect(contents[item] == nil, "\(item) twice in the vector store")
                #expect(files.contains(entry.fileID))
                contents[item] = entry.attributes["title"]
            }
            #expect(openAI.files.count == contents.count, "no orphaned uploads")
            return contents
        }

        func resetCounts() {
            hotmart.resetCounts()
            media.resetCounts()
            google.resetCounts()
            openAI.resetCounts()
        }
    }

    static let first: [(id: String, title: String, file: String)] = [
        ("p1", "Introducción", "intro"), ("p2", "Variables", "variables"), ("p3", "Listas", "listas"), ("p4", "Funciones", "funciones"),
    ]
    /// p5 is new, p2 retitled, p1's video replaced, p4 removed.
    static let second: [(id: String, title: String, file: String)] = [
        ("p1", "Introducción", "intro-v2"), ("p2", "Variables y tipos", "variables"), ("p3", "Listas", "listas"), ("p5", "Clases", "clases"),
    ]

    @Test func `each provider is called once per needed action; an unchanged rebuild only lists; each change runs only its own chain`() async throws {
        let world = try await World()
        try world.publish(Self.first)
        let first = try await world.build()
        #expect(first.failed == 0 && first.sync?.uploaded.count == 4)
        #expect(world.google.calls["POST :recognize"] == 4)
        #expect(world.openAI.calls["POST /files"] == 4)
        #expect(world.media.totalRequests == 4)
        // Two pages of lessons for the first module (the fake pages by two), one for the second.
        #expect(world.hotmart.calls["GET /modules/{id}/pages"] == 3 && world.hotmart.calls["GET /modules"] == 1)
        #expect(world.vectorStore() == ["hotmart/p1": "Introducción", "hotmart/p2": "Variables", "hotmart/p3": "Listas", "hotmart/p4": "Funciones"])
        let attributes = try #require(world.openAI.entries(ofStoreNamed: "support-kb").first { $0.attributes["item_id"] == "hotmart/p2" }?.attributes)
        #expect(attributes["course"] == "Python desde cero" && attributes["module"] == "Módulo 1" && attributes["lesson"] == "Variables")

        world.resetCounts()
        let unchanged = try await world.build()
        #expect(unchanged.executed == 0 && unchanged.snapshot == first.snapshot)
        #expect(Set(world.hotmart.calls.keys) == ["POST /security/oauth/token", "GET /modules", "GET /modules/{id}/pages"])
        #expect(world.google.calls.isEmpty && world.media.totalRequests == 0)
        #expect(world.openAI.calls == ["GET /vector_stores": 1, "GET /vector_stores/{id}/files": 1])

        world.resetCounts()
        try world.publish(Self.second)
        let changed = try await world.build()
        #expect(changed.failed == 0)
        #expect(world.google.calls["POST :recognize"] == 2, "the new lesson and the replaced video; a retitle transcribes nothing")
        #expect(world.media.totalRequests == 2)
        #expect(changed.sync?.uploaded == ["hotmart/p1", "hotmart/p2", "hotmart/p5"])
        #expect(changed.sync?.removed == ["hotmart/p1", "hotmart/p2", "hotmart/p4"])
        #expect(world.vectorStore() == ["hotmart/p1": "Introducción", "hotmart/p2": "Variables y tipos", "hotmart/p3": "Listas", "hotmart/p5": "Clases"])
        #expect(world.hotmart.violations.isEmpty && world.google.violations.isEmpty && world.openAI.violations.isEmpty)
        await world.close()
    }

    @Test func `a plan on a fresh catalog of plain URLs stores no video: ffprobe reads each one's head for its duration`() async throws {
        let world = try await World()
        try world.publish(Self.first)
        let outcome = try await acervoOffPool(["plan", "--json"], in: world.directory.path + "/project", environment: [
            "HOTMART_CLIENT_ID": world.hotmart.clientID, "HOTMART_CLIENT_SECRET": world.hotmart.clientSecret,
            "ACERVO_HOTMART_AUTH_URL": world.hotmart.baseURL, "ACERVO_HOTMART_API_URL": world.hotmart.baseURL,
            "GOOGLE_APPLICATION_CREDENTIALS": world.credentials, "ACERVO_SPEECH_URL": world.google.baseURL,
            "OPENAI_API_KEY": world.openAI.apiKey, "OPENAI_BASE_URL": world.openAI.baseURL,
        ])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let speech = (plan["actions"] as? [[String: Any]] ?? []).filter { $0["rule"] as? String == "transcript" }
        #expect(speech.count == 4 && speech.allSatisfy { $0["estimatedCostUSD"] is Double }, "\(speech)")
        // No video entered the store: the plan only looked.
        let objects = try FileManager.default.subpathsOfDirectory(atPath: world.directory.path + "/project/store/objects")
        for name in Self.first.map(\.file) {
            let digest = Digest.of(world.lessons[name]!).hex
            #expect(!objects.contains { $0.hasSuffix(String(digest.dropFirst(2))) }, "\(name) was stored by a plan")
        }
        #expect(world.google.calls.values.reduce(0, +) == 0 && world.openAI.writeCalls == 0)
        await world.close()
    }

    @Test func `a catalog that suddenly loses most of its lessons is refused, and the vector store is left alone`() async throws {
        let world = try await World()
        try world.publish(Self.first)
        _ = try await world.build()
        try world.publish([Self.first[0]])
        world.resetCounts()
        let outcome = try await acervoOffPool(["build"], in: world.directory.path + "/project", environment: [
            "HOTMART_CLIENT_ID": world.hotmart.clientID, "HOTMART_CLIENT_SECRET": world.hotmart.clientSecret,
            "ACERVO_HOTMART_AUTH_URL": world.hotmart.baseURL, "ACERVO_HOTMART_API_URL": world.hotmart.baseURL,
            "OPENAI_API_KEY": world.openAI.apiKey, "OPENAI_BASE_URL": world.openAI.baseURL,
        ])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("the catalog shrank from 4 to 1 lessons; if that is intended, raise `source.max_shrink`"), "\(outcome.stderr)")
        #expect(world.openAI.writeCalls == 0)
        #expect(world.vectorStore().count == 4)
        await world.close()
    }

    @Test func `a provider answering an HTML page or broken JSON fails that lesson's action with a clear error; the others go on`() async throws {
        for poison in [FakeReply.html(200, "Service Unavailable"), .respond(status: 200, headers: [], body: Array(#"{"results": [{"alternatives": "#.utf8))] {
            let world = try await World()
            world.google.poisonRecognize(seconds: 5, with: poison)  // "funciones", the only 5-second lesson
            try world.publish(Self.first)
            let output = try await world.build(expecting: 1)
            #expect(output.failures.map { "\($0.item):\($0.rule)" } == ["hotmart/p4:transcript"])
            let error = try #require(output.failures.first?.error)
            #expect(error.contains("Google Speech-to-Text POST /v2/projects/acervo-test/locations/us-central1/recognizers/_:recognize answered something unexpected (HTTP 200)"))
            #expect(error.contains("an HTML page instead of JSON") || error.contains("malformed JSON"))
            #expect(world.vectorStore() == ["hotmart/p1": "Introducción", "hotmart/p2": "Variables", "hotmart/p3": "Listas"])
            await world.close()
        }
    }

    @Test func `with 20 % of provider calls failing the builds end in the same state, with no duplicate uploads`() async throws {
        let world = try await World(faults: 0.2)
        try world.publish(Self.first)
        _ = try await world.build()
        #expect(world.vectorStore() == ["hotmart/p1": "Introducción", "hotmart/p2": "Variables", "hotmart/p3": "Listas", "hotmart/p4": "Funciones"])
        try world.publish(Self.second)
        let changed = try await world.build()
        #expect(changed.failed == 0)
        #expect(world.vectorStore() == ["hotmart/p1": "Introducción", "hotmart/p2": "Variables y tipos", "hotmart/p3": "Listas", "hotmart/p5": "Clases"])
        let injected = (world.hotmart.faults?.total ?? 0) + (world.google.faults?.total ?? 0) + (world.openAI.faults?.total ?? 0)
        #expect(injected >= 5, "faults were injected (\(injected))")
        await world.close()
    }
}
