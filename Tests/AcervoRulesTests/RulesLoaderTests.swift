import Foundation
import Testing
@testable import AcervoRules

/// One test per kind of mistake: each names the file, the line and the fix.
@Suite struct RulesLoaderTests {
    let catalog = [
        ProcessorDescriptor(id: "ffmpeg.audio", version: "1.0", inputs: [InputSlot("video")],
                            params: [ParamSpec("rate", .integer), ParamSpec("codec", .string)]),
        ProcessorDescriptor(id: "captions", version: "1.0", inputs: [InputSlot("captions"), InputSlot("audio", required: false)]),
        ProcessorDescriptor(id: "gemini.analyze", version: "1.2", inputs: [InputSlot("transcript")],
                            params: [ParamSpec("languages", .stringList)], isPaid: true),
        ProcessorDescriptor(id: "document.markdown", version: "1.0", inputs: [InputSlot("meta"), InputSlot("transcript", required: false)]),
    ]
    let artifacts: Set<String> = ["video", "captions", "materials", "metadata"]

    private func load(_ yaml: String, files: [String] = []) throws(RulesError) -> Pipeline {
        let directory = NSTemporaryDirectory() + "acervo-rules-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: directory + "/prompts", withIntermediateDirectories: true)
        for file in files { _ = FileManager.default.createFile(atPath: directory + "/" + file, contents: Data("x".utf8)) }
        try! yaml.write(toFile: directory + "/pipeline.yaml", atomically: true, encoding: .utf8)
        return try RulesLoader(catalog: catalog, sourceArtifacts: artifacts).load(directory: directory)
    }

    private func error(_ yaml: String, files: [String] = []) -> RulesError? {
        do { _ = try load(yaml, files: files); return nil } catch { return error }
    }

    @Test func `a valid pipeline is sorted so every rule follows the rules it reads`() throws {
        let pipeline = try load("""
            budget_usd: 12.5
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: transcript } }
              transcript: { processor: captions@1, inputs: { captions: captions, audio: audio } }
              audio: { processor: ffmpeg.audio@1, input: video, params: { rate: 16000, codec: flac }, concurrency: 2 }
              analysis: { processor: gemini.analyze@1, input: transcript, files: [prompts/analyze.md], params: { languages: [es, pt] } }
            sink: { kind: local, document: document }
            """, files: ["prompts/analyze.md"])
        #expect(pipeline.rules.map(\.name) == ["audio", "transcript", "document", "analysis"])
        #expect(pipeline.budgetUSD == 12.5)
        let audio = try #require(pipeline.rule(named: "audio"))
        #expect(audio.inputs == ["video": ["video"]])
        #expect(audio.params == ["rate": .number(16000), "codec": .string("flac")])
        #expect(audio.concurrency == 2)
        #expect(pipeline.rule(named: "analysis")?.files == ["prompts/analyze.md"])
        #expect(pipeline.rule(named: "analysis")?.processor.version == "1.2")
    }

    @Test func `an unknown processor names the line and suggests the closest`() throws {
        let failure = try #require(error("""
            rules:
              audio: { processor: ffmpeg.audoi@1, input: video }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.location?.line == 2)
        #expect(failure.description.contains("unknown processor `ffmpeg.audoi`"))
        #expect(failure.fix == "did you mean `ffmpeg.audio`?")
    }

    @Test func `an unknown input says did you mean`() throws {
        let failure = try #require(error("""
            rules:
              audio: { processor: ffmpeg.audio@1, input: vidoe }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.location?.line == 2)
        #expect(failure.message == "rule `audio`: unknown input `vidoe`")
        #expect(failure.fix == "did you mean `video`?")
        #expect(failure.description.hasSuffix("pipeline.yaml:2:46: rule `audio`: unknown input `vidoe`; did you mean `video`?"))
    }

    @Test func `a cycle is reported by its path`() throws {
        let failure = try #require(error("""
            rules:
              transcript: { processor: captions@1, inputs: { captions: document } }
              document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: transcript } }
            """))
        #expect(failure.message == "rules form a cycle: transcript → document → transcript")
        #expect(failure.location?.line == 2)
    }

    @Test func `a duplicate rule names both lines`() throws {
        let failure = try #require(error("""
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.location?.line == 3)
        #expect(failure.message == "duplicate key `document` (first declared at line 2)")
        #expect(failure.fix == "rename or remove one of them")
    }

    @Test func `a parameter of the wrong type says which type`() throws {
        let failure = try #require(error("""
            rules:
              audio: { processor: ffmpeg.audio@1, input: video, params: { rate: fast } }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.location?.line == 2)
        #expect(failure.message == "rule `audio`: parameter `rate` must be a integer, not \"fast\"")
    }

    @Test func `a missing file is named with its rule`() throws {
        let failure = try #require(error("""
            rules:
              analysis: { processor: gemini.analyze@1, input: metadata, files: [prompts/missing.md] }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.location?.line == 2)
        #expect(failure.message.hasPrefix("rule `analysis`: file `prompts/missing.md` does not exist"))
    }

    @Test func `an unknown parameter suggests the right one`() throws {
        let failure = try #require(error("""
            rules:
              audio: { processor: ffmpeg.audio@1, input: video, params: { rates: 16000 } }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.fix == "did you mean `rate`?")
    }

    @Test func `an unavailable major version lists the available ones`() throws {
        let failure = try #require(error("""
            rules:
              document: { processor: document.markdown@2, inputs: { meta: metadata } }
            """))
        #expect(failure.message == "rule `document`: this Acervo has no document.markdown@2")
        #expect(failure.fix == "use document.markdown@1")
    }

    @Test func `an unconnected required input is reported`() throws {
        let failure = try #require(error("""
            rules:
              document: { processor: document.markdown@1, inputs: { transcript: metadata } }
            """))
        #expect(failure.message == "rule `document`: input `meta` of document.markdown is not connected")
    }

    @Test func `a sink naming a missing document rule is reported`() throws {
        let failure = try #require(error("""
            rules:
              doc: { processor: document.markdown@1, inputs: { meta: metadata } }
            sink: { kind: local }
            """))
        #expect(failure.message == "the sink's document rule `document` does not exist")
        #expect(failure.fix == "did you mean `doc`?")
    }

    @Test func `broken YAML points at the line`() throws {
        let failure = try #require(error("""
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata }
            """))
        #expect(failure.message.hasPrefix("not valid YAML"))
        #expect(failure.location?.line == 3)
    }

    @Test func `a rule may not take a source artifact's name`() throws {
        let failure = try #require(error("""
            rules:
              video: { processor: ffmpeg.audio@1, input: video }
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            """))
        #expect(failure.message == "rule `video` has the name of a source artifact")
        #expect(failure.location?.line == 2)
    }

    @Test func `a missing pipeline file says what to pass`() {
        #expect(throws: RulesError.self) {
            try RulesLoader(catalog: catalog, sourceArtifacts: artifacts).load(directory: "/nonexistent-acervo-rules")
        }
    }
}

@Suite struct JSONValueTests {
    @Test func `canonical JSON sorts keys, drops whitespace and normalises numbers`() {
        let value = JSONValue.object([
            "b": .array([.number(1.0), .number(0.5), .number(-0.0), .bool(true), .null]),
            "a": .string("línea \"dos\"\n\u{1}"),
        ])
        #expect(value.canonical == #"{"a":"línea \"dos\"\n\u0001","b":[1,0.5,0,true,null]}"#)
    }
}

@Suite struct AlternativeReferenceTests {
    let catalog = [
        ProcessorDescriptor(id: "t.stt", version: "1.0", inputs: [InputSlot("audio")]),
        ProcessorDescriptor(id: "t.doc", version: "1.0", inputs: [InputSlot("transcript")]),
    ]

    @Test func `an input may list alternatives in order of preference, and a rule may step aside with unless`() throws {
        let pipeline = try RulesLoader(catalog: catalog, sourceArtifacts: ["video", "captions", "metadata"]).parse("""
            rules:
              speech: { processor: t.stt@1, input: video, unless: captions }
              document: { processor: t.doc@1, input: [captions, speech] }
            sink: { kind: local }
            """, file: "pipeline.yaml", directory: "/tmp")
        #expect(pipeline.rule(named: "document")?.inputs == ["transcript": ["captions", "speech"]])
        #expect(pipeline.rule(named: "speech")?.unless == ["captions"])
        #expect(pipeline.rules.map(\.name) == ["speech", "document"])
    }

    @Test func `an unknown name in unless is reported with its line and a suggestion`() {
        let error = #expect(throws: RulesError.self) {
            try RulesLoader(catalog: catalog, sourceArtifacts: ["video", "captions", "metadata"]).parse("""
                rules:
                  speech: { processor: t.stt@1, input: video, unless: caption }
                  document: { processor: t.doc@1, input: speech }
                sink: { kind: local }
                """, file: "pipeline.yaml", directory: "/tmp")
        }
        #expect(error?.description.contains("pipeline.yaml:2") == true)
        #expect(error?.description.contains("unknown input `caption`") == true)
        #expect(error?.description.contains("captions") == true)
    }
}

@Suite struct PriceFileTests {
    @Test func `no prices file is an empty table; one that cannot be read is an error naming it`() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("acervo-prices-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try PriceTable.load(rulesDirectory: folder) == PriceTable())
        try Data([0x66, 0x6f, 0xff, 0xfe, 0x0a]).write(to: URL(fileURLWithPath: folder + "/prices.yaml"))
        let error = #expect(throws: RulesError.self) { _ = try PriceTable.load(rulesDirectory: folder) }
        #expect(error?.message.contains("prices.yaml cannot be read as UTF-8 text") == true, "\(String(describing: error))")
    }
}
