import AcervoApp
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoFakeServers
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoConnectors

/// `acervo build` with an OpenAI sink, `kb sync` and `kb restore`, through the real binary against the fake.
@Suite(.serialized) struct SyncCommandTests {
    struct BuildOutput: Decodable {
        var run: String
        var executed: Int
        var snapshot: String?
        var sync: SyncReport?
    }

    /// The example course with pipeline.yaml's sink pointed at OpenAI.
    final class Project {
        private let directory = TemporaryDirectory("acervo-sync-cli")
        var path: String { directory.path }

        init() throws {
            try copyExampleProject(into: path)
            let rules = try String(contentsOfFile: path + "/rules/pipeline.yaml", encoding: .utf8)
            let openai = rules.replacingOccurrences(
                of: "sink: { kind: local, document: document, attributes: class }",
                with: "sink: { kind: openai, document: document, attributes: class, vector_store: support-kb, chunking: { max_chunk_size_tokens: 600, chunk_overlap_tokens: 200 } }")
            #expect(openai != rules, "the default pipeline's sink line changed; update this test")
            try openai.write(toFile: path + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        }
    }

    @Test func `a build with an OpenAI sink syncs its snapshot; a rebuild makes no write calls; restore brings an old one back`() async throws {
        let fake = try await FakeOpenAI.start()
        let project = try Project()
        let environment: [String: String?] = ["OPENAI_API_KEY": fake.apiKey, "OPENAI_BASE_URL": fake.baseURL]

        let first = try await acervoOffPool(["build", "--json"], in: project.path, environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let built = try decodeJSON(BuildOutput.self, first.stdout)
        #expect(built.sync?.uploaded.count == 5)
        let entries = fake.entries(ofStoreNamed: "support-kb")
        #expect(entries.count == 5 && entries.allSatisfy { $0.status == "completed" && $0.chunking == ["max": 600, "overlap": 200] })
        #expect(entries.allSatisfy { $0.attributes["school"] != nil && $0.attributes["level"] != nil && $0.attributes["item_id"] != nil })
        #expect(!first.stderr.contains(fake.apiKey))

        fake.resetCounts()
        let second = try await acervoOffPool(["build", "--json"], in: project.path, environment: environment)
        #expect(second.status == 0, "\(second.stderr)")
        let rebuilt = try decodeJSON(BuildOutput.self, second.stdout)
        #expect(rebuilt.executed == 0 && rebuilt.sync?.kept == 5)
        #expect(fake.writeCalls == 0)

        // An edited caption changes one document; restoring the first snapshot brings the old one back.
        let captions = project.path + "/examples/course/01-fundamentos/02-variables/captions.srt"
        let original = try String(contentsOfFile: captions, encoding: .utf8)
        try original.replacingOccurrences(of: "booleanos", with: "valores lógicos").write(toFile: captions, atomically: true, encoding: .utf8)
        let edited = try decodeJSON(BuildOutput.self, try await acervoOffPool(["build", "--json"], in: project.path, environment: environment).stdout)
        #expect(edited.sync?.uploaded.count == 1 && edited.sync?.removed.count == 1)
        fake.resetCounts()
        let restore = try await acervoOffPool(["kb", "restore", built.run, "--json"], in: project.path, environment: environment)
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = try decodeJSON(SyncReport.self, restore.stdout)
        #expect(restored.uploaded.count == 1 && restored.removed.count == 1 && restored.kept == 4)
        let documents = Set(fake.entries(ofStoreNamed: "support-kb").compactMap { $0.attributes["acervo_document"] })
        let firstManifest = try await acervoOffPool(["kb", "show", built.run, "--json"], in: project.path)
        struct Manifest: Decodable { struct Entry: Decodable { var document: String }; var entries: [Entry] }
        #expect(documents == Set(try decodeJSON(Manifest.self, firstManifest.stdout).entries.map { String($0.document.dropFirst(7)) }))
        #expect(fake.violations.isEmpty)

        // What the vector store costs to keep, as the newest sync measured it (the fake's files are 1,000 bytes).
        let cost = try decodeJSON(CostReport.self, try await acervoOffPool(["cost", "--json", "--no-projection"], in: project.path).stdout)
        #expect(cost.storage?.bytes == 5_000 && cost.storage?.vectorStore == restored.vectorStore)
        #expect(cost.storage?.usdPerDay == 0, "under the free gigabyte")
        #expect(abs(CostReport.Storage.usdPerDay(bytes: 3_500_000_000, perGBDay: 0.10, freeGB: 1) - 0.25) < 1e-12)
        #expect(cost.prices["openai.vector_store"]?.source == "https://openai.com/api/pricing/")

        // The support assistants' view: a question answered from the vector store, filtered on attributes.
        let ask = try await acervoOffPool(["ask", "¿Qué", "son", "las", "variables?", "--school", "tecnologia", "--json"], in: project.path, environment: environment)
        #expect(ask.status == 0, "\(ask.stderr)")
        let answer = try decodeJSON(KnowledgeBaseQuestion.Answer.self, ask.stdout)
        #expect(answer.sources.first?.itemID == "01-fundamentos/02-variables")
        #expect(answer.citations.map(\.itemID) == ["01-fundamentos/02-variables"], "the answer cites the lesson it used")
        #expect(answer.text.contains("Variables"))
        #expect(fake.lastFilters == ["school": "tecnologia"])
        // What the question cost: gpt-4.1-mini's tokens ($0.40 and $1.60 a million) and one search ($2.50 a thousand).
        #expect(answer.searchCalls == 1 && answer.inputTokens == 1_200 && answer.outputTokens == 40)
        #expect(abs((answer.costUSD ?? 0) - (1_200 * 0.40e-6 + 40 * 1.60e-6 + 2.50e-3)) < 1e-12)

        // An answer citing two files lists those two lessons — in text, without the rest of the search results…
        fake.cite(2)
        let two = try decodeJSON(KnowledgeBaseQuestion.Answer.self,
                                 try await acervoOffPool(["ask", "variables", "listas", "funciones", "--json"], in: project.path, environment: environment).stdout)
        #expect(two.citations.count == 2 && two.sources.count > 2, "\(two)")
        #expect(Set(two.citations.compactMap(\.itemID)).isSubset(of: Set(two.sources.compactMap(\.itemID))))
        let text = try await acervoOffPool(["ask", "variables", "listas", "funciones"], in: project.path, environment: environment).stdout
        #expect(text.contains("\ncites:\n") && text.contains("\ncost: $0.0030 (1200 tokens in, 40 out, 1 search)"), "\(text)")
        #expect(!text.contains("search results:"), "the search results only with --results")
        #expect(try await acervoOffPool(["ask", "variables", "listas", "funciones", "--results"], in: project.path, environment: environment).stdout
            .contains("search results:"))
        // …and an answer citing nothing lists none, though the search found files.
        fake.cite(0)
        let none = try decodeJSON(KnowledgeBaseQuestion.Answer.self,
                                  try await acervoOffPool(["ask", "variables", "--json"], in: project.path, environment: environment).stdout)
        #expect(none.citations.isEmpty && !none.sources.isEmpty)
        #expect(try await acervoOffPool(["ask", "variables"], in: project.path, environment: environment).stdout.contains("cites: nothing from the course"))
        #expect(fake.violations.isEmpty)
        await fake.stop()
    }

    @Test func `kb sync without an API key is a configuration error that names the variable`() async throws {
        try await offPool { () throws in
            let project = try Project()
            #expect(try acervo(["build", "--no-sync", "--quiet"], in: project.path).status == 0)
            let outcome = try acervo(["kb", "sync"], in: project.path, environment: ["OPENAI_API_KEY": nil, "OPENAI_API_KEY_FILE": nil])
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains("OpenAI: set OPENAI_API_KEY (or OPENAI_API_KEY_FILE, a file holding it) in the environment"))
        }
    }
}

@Suite struct CloudExampleTests {
    @Test func `the documented production pipeline is valid: acervo plan reads it`() async throws {
        try await offPool { () throws in
            let directory = TemporaryDirectory("acervo-cloud-example")
            try FileManager.default.copyItem(atPath: repositoryRoot + "/rules", toPath: directory.path + "/rules")
            try FileManager.default.removeItem(atPath: directory.path + "/rules/pipeline.yaml")
            try FileManager.default.copyItem(atPath: repositoryRoot + "/examples/cloud/pipeline.yaml", toPath: directory.path + "/rules/pipeline.yaml")
            try #"{"1": {"video": {"url": "http://127.0.0.1:9/1.mp4"}}}"#.write(toFile: directory.path + "/media.json", atomically: true, encoding: .utf8)
            // No Hotmart credentials: the rules load (exit 2 would name a rules error), then the source asks for them.
            let outcome = try acervo(["plan"], in: directory.path, environment: ["HOTMART_CLIENT_ID": nil, "HOTMART_CLIENT_SECRET": nil])
            #expect(!outcome.stderr.contains("pipeline.yaml:"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("Hotmart: set HOTMART_CLIENT_ID"), "\(outcome.stderr)")
            #expect(outcome.status == 2)
        }
    }
}

extension CloudExampleTests {
    @Test func `the academy example is valid: three sources, each asking for its own credentials`() async throws {
        try await offPool { () throws in
            let directory = TemporaryDirectory("acervo-academy-example")
            try FileManager.default.copyItem(atPath: repositoryRoot + "/rules", toPath: directory.path + "/rules")
            try FileManager.default.removeItem(atPath: directory.path + "/rules/pipeline.yaml")
            try FileManager.default.copyItem(atPath: repositoryRoot + "/examples/cloud/academy.yaml", toPath: directory.path + "/rules/pipeline.yaml")
            try "{}".write(toFile: directory.path + "/media-python.json", atomically: true, encoding: .utf8)
            let outcome = try acervo(["media"], in: directory.path, environment: ["HOTMART_CLIENT_ID": "id", "HOTMART_CLIENT_SECRET": "secret",
                                                                                   "VIMEO_TOKEN": nil, "PANDA_API_KEY": nil])
            #expect(!outcome.stderr.contains("pipeline.yaml:"), "\(outcome.stderr)")
            #expect(outcome.stdout.contains("club-python: cannot be read: Vimeo: set VIMEO_TOKEN"), "\(outcome.stdout)")
            #expect(outcome.stdout.contains("club-dados: cannot be read: Panda Video: set PANDA_API_KEY"), "\(outcome.stdout)")
            #expect(outcome.stdout.contains("taller-de-python: a course folder"), "\(outcome.stdout)")
        }
    }

    @Test func `chirp_2 in the global location is a rules error naming the line; the example uses a region that serves it`() throws {
        let loader = RulesLoader(catalog: ProcessorCatalog.descriptors, sourceArtifacts: Item.artifactNames)
        let rules = """
            rules:
              audio: { processor: ffmpeg.audio@1, input: video }
              speech:
                processor: google.stt@1
                input: audio
                params: { languages: [es-ES], model: chirp_2, location: global }
            sink: { kind: local, document: speech }
            """
        #expect {
            _ = try loader.parse(rules, file: "rules/pipeline.yaml", directory: "rules")
        } throws: { error in
            guard let error = error as? RulesError else { return false }
            return error.location?.line == 6 && error.message.contains("google.stt with model `chirp_2` cannot use location `global`")
                && error.message.contains("us-central1, europe-west4 and asia-southeast1") && error.fix == "set `location` to one of us-central1, europe-west4, asia-southeast1"
        }
        // No location at all: the processor's default for a regional model is a region that serves it.
        _ = try loader.parse(rules.replacingOccurrences(of: ", location: global", with: ""), file: "rules/pipeline.yaml", directory: "rules")
        let example = try String(contentsOfFile: repositoryRoot + "/examples/cloud/pipeline.yaml", encoding: .utf8)
        #expect(example.contains("model: chirp_2, location: us-central1"))

        // Languages as names (what Whisper answers) are refused before any request fails on them, with the codes.
        let named = #expect(throws: RulesError.self) {
            _ = try loader.parse(rules.replacingOccurrences(of: "languages: [es-ES], model: chirp_2, location: global",
                                                            with: "languages: [spanish, pt_br]"), file: "rules/pipeline.yaml", directory: "rules")
        }
        #expect(named?.location?.line == 6)
        #expect(named?.message == "rule `speech`: parameter `languages` must be a list of BCP-47 language codes, not [\"spanish\",\"pt_br\"]")
        #expect(named?.fix == "write [es, pt-BR]")
    }

    @Test func `language codes are BCP-47 whatever a provider or a course file says`() {
        #expect(LanguageTag.normalized("spanish") == "es" && LanguageTag.normalized("Portuguese") == "pt")
        #expect(LanguageTag.normalized("es-es") == "es-ES" && LanguageTag.normalized("pt_br") == "pt-BR")
        #expect(LanguageTag.normalized("zh-hant-tw") == "zh-Hant-TW" && LanguageTag.normalized("es-419") == "es-419")
        #expect(LanguageTag.normalized("spa") == "es" && LanguageTag.normalized("") == "und")
        #expect(LanguageTag.isWellFormed("es-ES") && LanguageTag.isWellFormed("yue") && LanguageTag.isWellFormed("es-419"))
        #expect(!LanguageTag.isWellFormed("spanish") && !LanguageTag.isWellFormed("spa") && !LanguageTag.isWellFormed("pt_BR"))
    }
}
