import Foundation
import Testing
@testable import AcervoRules

/// `source:`, `sink:`, budget and prices are typed values; every mistake names its line and the fix.
@Suite struct SettingsTests {
    let catalog = [ProcessorDescriptor(id: "document.markdown", version: "1.0", inputs: [InputSlot("meta")])]
    let rules = """
        rules:
          document: { processor: document.markdown@1, inputs: { meta: metadata } }
          class: { processor: document.markdown@1, inputs: { meta: metadata } }

        """

    private func parse(_ yaml: String) throws(RulesError) -> Pipeline {
        try RulesLoader(catalog: catalog, sourceArtifacts: ["metadata"]).parse(rules + yaml, file: "pipeline.yaml", directory: "/project/rules")
    }

    private func failure(_ yaml: String) -> RulesError? {
        do { _ = try parse(yaml); return nil } catch { return error }
    }

    @Test func `a local source and sink are the defaults`() throws {
        let pipeline = try parse("")
        #expect(pipeline.source == .local(path: nil))
        #expect(pipeline.sink == SinkSettings(kind: .local, documentRule: "document", attributesRule: nil))
        #expect(pipeline.projectDirectory == "/project")
    }

    @Test func `a Hotmart source and an OpenAI sink become typed settings`() throws {
        let pipeline = try parse("""
            source:
              kind: hotmart
              subdomain: my-club
              media: { manifest: media.json, video_url: "https://cdn/{page_id}.mp4" }
              max_shrink: 0.3
            sink:
              kind: openai
              document: document
              attributes: class
              vector_store: support-kb
              chunking: { max_chunk_size_tokens: 1000, chunk_overlap_tokens: 200 }
            budget_usd: 40
            """)
        #expect(pipeline.source == .hotmart(HotmartSettings(
            subdomain: "my-club", media: [.manifest(path: "media.json"), .template(videoURL: "https://cdn/{page_id}.mp4", captionsURL: nil)], maxShrink: 0.3)))
        #expect(pipeline.sink.attributesRule == "class")
        #expect(pipeline.sink.openAI == OpenAISinkSettings(vectorStore: "support-kb", chunking: Chunking(maxChunkSizeTokens: 1000, chunkOverlapTokens: 200)))
        #expect(pipeline.budgetUSD == 40)
    }

    @Test func `media resolvers are a list tried in order, each with its own settings; a secret is named, never written`() throws {
        let pipeline = try parse("""
            source:
              kind: hotmart
              subdomain: my-club
              media:
                - { kind: manifest, path: fixes.json }
                - { kind: vimeo, folder: "123", token: SCHOOL_VIMEO, height: 1080, min_score: 0.9 }
                - { kind: panda, folder: f-1 }
                - { kind: hls, url: "https://cdn/{page_id}/index.m3u8" }
                - { kind: folder, path: /mnt/originals, min_score: 0.6 }
            """)
        guard case .hotmart(let settings) = pipeline.source else {
            Issue.record("not a Hotmart source")
            return
        }
        #expect(settings.media == [
            .manifest(path: "fixes.json"),
            .vimeo(VimeoSettings(folder: "123", tokenVariable: "SCHOOL_VIMEO", minimumHeight: 1080, match: MatchSettings(minimumScore: 0.9))),
            .panda(PandaSettings(folder: "f-1")),
            .hls(urlTemplate: "https://cdn/{page_id}/index.m3u8"),
            .folder(path: "/mnt/originals", match: MatchSettings(minimumScore: 0.6)),
        ])
        let secret = try #require(failure("source: { kind: hotmart, subdomain: c, media: [{ kind: vimeo, token: 4f9a2b-secret }] }\n"))
        #expect(secret.message.contains("names the environment variable that holds the secret, not the secret"))
        let misplaced = try #require(failure("source: { kind: hotmart, subdomain: c, media: [{ kind: folder, path: x, height: 720 }] }\n"))
        #expect(misplaced.message == "`height` does not apply to `kind: folder` media")
    }

    @Test func `an unknown source kind names the line and the kinds there are`() throws {
        let error = try #require(failure("source: { kind: hotmrt, subdomain: x }\n"))
        #expect(error.location?.line == 4)
        #expect(error.message == "unknown source kind `hotmrt`")
        #expect(error.fix == "did you mean `hotmart`?")
    }

    @Test func `a misspelt sink key is refused with a suggestion`() throws {
        let error = try #require(failure("sink: { kind: openai, vector_stor: kb }\n"))
        #expect(error.location?.line == 4)
        #expect(error.message == "`sink`: unknown setting `vector_stor`")
        #expect(error.fix == "did you mean `vector_store`?")
    }

    @Test func `a wrong type is refused where it is written`() throws {
        let error = try #require(failure("""
            sink:
              kind: openai
              chunking: { max_chunk_size_tokens: many }
            """))
        #expect(error.location?.line == 6)
        #expect(error.message == "`max_chunk_size_tokens` must be a whole number")
    }

    @Test func `chunking outside OpenAI's limits is refused before anything uploads`() throws {
        #expect(failure("sink: { kind: openai, chunking: { max_chunk_size_tokens: 50 } }\n")?.message
            == "`max_chunk_size_tokens` must be between 100 and 4096 (OpenAI's limits), not 50")
        #expect(failure("sink: { kind: openai, chunking: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 500 } }\n")?.message
            == "`chunk_overlap_tokens` must be between 0 and half of max_chunk_size_tokens (400), not 500")
    }

    @Test func `settings of another kind are refused, not silently ignored`() throws {
        let vectorStore = try #require(failure("sink: { kind: local, vector_store: kb }\n"))
        #expect(vectorStore.message == "`sink.vector_store` applies to `kind: openai` sinks")
        let subdomain = try #require(failure("source: { kind: local, path: course, subdomain: x }\n"))
        #expect(subdomain.message == "`source.subdomain` applies to `kind: hotmart` sources")
    }

    @Test func `a Hotmart source needs a subdomain and somewhere to find media`() throws {
        #expect(failure("source: { kind: hotmart, media: { manifest: m.json } }\n")?.message == "a Hotmart source needs `subdomain`")
        #expect(failure("source: { kind: hotmart, subdomain: club }\n")?.message.hasPrefix("a Hotmart source needs `media`") == true)
        let empty = try #require(failure("source: { kind: hotmart, subdomain: club, media: { } }\n"))
        #expect(empty.message == "`source.media` names no files")
        #expect(failure("source: { kind: hotmart, subdomain: club, media: { manifest: m.json }, max_shrink: 2 }\n")?.message
            == "`max_shrink` must be a number from 0 to 1")
    }

    @Test func `an attributes rule that does not exist is reported`() throws {
        let error = try #require(failure("sink: { attributes: clas }\n"))
        #expect(error.message == "the sink's attributes rule `clas` does not exist")
        #expect(error.fix == "did you mean `class`?")
    }

    @Test func `a top-level key nothing reads is refused`() throws {
        let error = try #require(failure("notifications: { slack: true }\n"))
        #expect(error.message == "unknown key `notifications`")
        #expect(error.location?.line == 4)
    }

    @Test func `prices are typed, and a wrong one names its line`() throws {
        let table = try PriceTable.parse("""
            google.stt:
              source: https://cloud.google.com/speech-to-text/pricing
              taken: 2026-11
              per_minute: { chirp_2: 0.016, default: 0.024 }
            """, file: "prices.yaml")
        #expect(table.provenance["google.stt"] == PriceTable.Provenance(source: "https://cloud.google.com/speech-to-text/pricing", taken: "2026-11"))
        #expect(table.price("google.stt", "per_minute", model: "chirp_2") == 0.016)
        #expect(table.price("google.stt", "per_minute", model: "long") == 0.024)
        #expect(table.price("gemini", "per_million_input_tokens", model: nil) == nil)

        let error = #expect(throws: RulesError.self) {
            try PriceTable.parse("gemini:\n  per_million_input_tokens: { gemini-2.5-flash: cheap }\n", file: "prices.yaml")
        }
        #expect(error?.location?.line == 2)
        #expect(error?.message == "`gemini.per_million_input_tokens.gemini-2.5-flash` must be a number of dollars")

        // A price nobody can trace to a pricing page and a date is refused, naming the provider's line.
        let untraced = #expect(throws: RulesError.self) {
            try PriceTable.parse("google.vision:\n  taken: 2026-11\n  per_thousand_images: { default: 1.50 }\n", file: "prices.yaml")
        }
        #expect(untraced?.location?.line == 1)
        #expect(untraced?.message == "`google.vision` does not say where and when its prices were read")
        #expect(untraced?.fix == "add `source: <the provider's pricing page>` and `taken: <YYYY-MM>` under `google.vision`")
    }

    @Test func `an unpriced paid call names the provider, the unit and the fix`() throws {
        let error = #expect(throws: RulesError.self) { try PriceTable().required("google.stt", "per_minute", model: "chirp_2") }
        #expect(error?.message == "prices.yaml has no price for google.stt per minute of `chirp_2`")
        #expect(error?.fix == "add `google.stt: { per_minute: { chirp_2: DOLLARS } }` to rules/prices.yaml with the provider's price")
    }

    @Test func `a processor reference is parsed and printed in one place`() {
        #expect(ProcessorReference(parsing: "google.stt@1") == ProcessorReference(id: "google.stt", major: 1))
        #expect(ProcessorReference(id: "captions", major: 2).description == "captions@2")
        #expect(ProcessorReference(parsing: "captions") == nil)
        #expect(ProcessorReference(parsing: "captions@one") == nil)
        #expect(ProcessorDescriptor(id: "x", version: "3.1", inputs: []).reference == ProcessorReference(id: "x", major: 3))
    }
}
