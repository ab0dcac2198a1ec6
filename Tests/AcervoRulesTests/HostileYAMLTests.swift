import Foundation
import Testing
@testable import AcervoRules

/// YAML a hostile or broken file holds: refused quickly, in bounded memory, with a short message naming
/// the file.
@Suite struct HostileYAMLTests {
    /// `levels` of anchors, each a list of nine aliases of the one before: 9^levels values once expanded.
    static func bomb(levels: Int) -> String {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1..<levels {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n")
    }

    /// Loads a pipeline whose `codec` parameter (a string) is a bomb of `levels`; the error it gives.
    func refusal(codecBombOf levels: Int) -> RulesError? {
        let yaml = """
            rules:
              audio:
                processor: ffmpeg.audio@1
                input: video
                params:
                  codec:
            \(Self.bomb(levels: levels).split(separator: "\n").map { "        " + $0 }.joined(separator: "\n"))
            sink: { kind: local, document: audio }
            """
        let catalog = [ProcessorDescriptor(id: "ffmpeg.audio", version: "1.0", inputs: [InputSlot("video")], params: [ParamSpec("codec", .string)])]
        do {
            _ = try RulesLoader(catalog: catalog, sourceArtifacts: ["video"]).parse(yaml, file: "rules/pipeline.yaml", directory: "rules")
            return nil
        } catch {
            return error
        }
    }

    @Test func `nine levels of aliases in a rule's params are refused before they are expanded`() throws {
        let error = try #require(refusal(codecBombOf: 9))
        #expect(error.description.hasPrefix("rules/pipeline.yaml:1:1: the YAML expands to more than 100000 values"))
        #expect(error.description.count < 300)
    }

    @Test func `four levels of aliases where a string belongs give a short message`() throws {
        let error = try #require(refusal(codecBombOf: 4))
        #expect(error.description.contains("parameter `codec` must be a string"))
        #expect(error.description.count < 500, "\(error.description.count) characters")
    }

    @Test func `too large and too deep documents are refused`() {
        let large = String(repeating: "# comment\n", count: YAMLDocument.maximumBytes / 10 + 1)
        #expect(throws: RulesError.self) { try YAMLDocument.compose(large, file: "course.yaml") }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        do {
            _ = try YAMLDocument.compose(deep, file: "lesson.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description == "lesson.yaml:1:1: the YAML is nested more than 64 levels deep; write the values out instead")
        }
    }

    @Test func `ordinary anchors and aliases are fine`() throws {
        let node = try YAMLDocument.compose("base: &base { rate: 16000 }\nother: *base\n", file: "x.yaml")
        #expect(node?.mapping?["other"]?.mapping?["rate"]?.int == 16000)
    }
}
