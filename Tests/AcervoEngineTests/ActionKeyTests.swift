import AcervoRules
import AcervoStore
import Foundation
import Testing
@testable import AcervoEngine

/// Golden vectors: keys are a compatibility promise. If one of these fails, the change would make every user
/// pay again for work already done — fix the change, not the vector.
@Suite struct ActionKeyTests {
    static let video = try! Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
    static let prompt = try! Digest(parsing: "sha256:" + String(repeating: "b", count: 64))

    @Test func `golden vector: no params, no files`() {
        let components = KeyComponents(processor: "ffmpeg.audio", version: "1.0", params: [:], inputs: ["video": Self.video], files: [:])
        #expect(components.key.hex == GoldenKeys.audio)
    }

    @Test func `golden vector: params, several inputs and a file`() {
        let components = KeyComponents(
            processor: "gemini.analyze", version: "1.2",
            params: ["model": .string("gemini-2.5-flash"), "temperature": .number(0.2), "languages": .array([.string("es"), .string("pt")])],
            inputs: ["transcript": Self.video, "ocr": Self.prompt], files: ["prompts/analyze.md": Self.prompt])
        #expect(components.key.hex == GoldenKeys.analyze)
    }

    @Test func `the canonical bytes are the documented layout`() {
        let components = KeyComponents(processor: "p", version: "1", params: [:], inputs: [:], files: [:])
        let expected: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 16] + Array("acervo-action-v1".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 1] + Array("p".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 1] + Array("1".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 2] + Array("{}".utf8)
            + [0, 0, 0, 0, 0, 0, 0, 0]
            + [0, 0, 0, 0, 0, 0, 0, 0]
        #expect(components.canonicalBytes == expected)
    }

    @Test func `a rule's precomputed key template gives exactly the documented key`() throws {
        let directory = NSTemporaryDirectory() + "acervo-template-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/prompts", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "Analyse.".write(toFile: directory + "/prompts/analyze.md", atomically: true, encoding: .utf8)
        let pipeline = try RulesLoader(catalog: [
            ProcessorDescriptor(id: "gemini.analyze", version: "1.2", inputs: [InputSlot("transcript"), InputSlot("ocr")],
                                params: [ParamSpec("model", .string), ParamSpec("temperature", .number), ParamSpec("languages", .stringList)]),
        ], sourceArtifacts: ["video", "captions"]).parse("""
            rules:
              document:
                processor: gemini.analyze@1
                inputs: { transcript: video, ocr: captions }
                params: { model: gemini-2.5-flash, temperature: 0.2, languages: [es, pt] }
                files: [prompts/analyze.md]
            sink: { kind: local }
            """, file: "pipeline.yaml", directory: directory)
        let template = RuleKeyTemplate(rule: pipeline.rules[0], fileDigests: ["prompts/analyze.md": Self.prompt, "unused.md": Self.video])
        let action = template.action(inputs: ["transcript": Self.video, "ocr": Self.prompt])
        #expect(action.key.hex == GoldenKeys.analyze)
        #expect(action.components.key == action.key)
        #expect(action.components.files == ["prompts/analyze.md": Self.prompt])
    }

    @Test func `dictionary order and number spelling do not change a key`() {
        let a = KeyComponents(processor: "x", version: "1", params: ["b": .number(1.0), "a": .number(2)],
                              inputs: ["one": Self.video, "two": Self.prompt], files: [:])
        let b = KeyComponents(processor: "x", version: "1", params: ["a": .number(2.0), "b": .number(1)],
                              inputs: ["two": Self.prompt, "one": Self.video], files: [:])
        #expect(a.key == b.key)
    }

    @Test func `every component changes the key`() {
        let base = KeyComponents(processor: "x", version: "1", params: ["p": .number(1)], inputs: ["i": Self.video], files: ["f": Self.prompt])
        var variants = [base]
        variants.append(KeyComponents(processor: "y", version: "1", params: ["p": .number(1)], inputs: ["i": Self.video], files: ["f": Self.prompt]))
        variants.append(KeyComponents(processor: "x", version: "2", params: ["p": .number(1)], inputs: ["i": Self.video], files: ["f": Self.prompt]))
        variants.append(KeyComponents(processor: "x", version: "1", params: ["p": .number(2)], inputs: ["i": Self.video], files: ["f": Self.prompt]))
        variants.append(KeyComponents(processor: "x", version: "1", params: ["p": .number(1)], inputs: ["i": Self.prompt], files: ["f": Self.prompt]))
        variants.append(KeyComponents(processor: "x", version: "1", params: ["p": .number(1)], inputs: ["j": Self.video], files: ["f": Self.prompt]))
        variants.append(KeyComponents(processor: "x", version: "1", params: ["p": .number(1)], inputs: ["i": Self.video], files: ["f": Self.video]))
        variants.append(KeyComponents(processor: "x", version: "1", params: ["p": .number(1)], inputs: ["i": Self.video], files: [:]))
        #expect(Set(variants.map(\.key)).count == variants.count)
    }
}

/// Computed once and cross-checked with the independent Python implementation in docs/action-key.md.
enum GoldenKeys {
    static let audio = "98e3b7a06940e6992622c8dd407d10da4341bf8dd2f05ba1f01d1f693c0babab"
    static let analyze = "ad01b14d6ecfd8c3713b646fcd5693e7b26382784e9682e31234b4897bd996a7"
}
