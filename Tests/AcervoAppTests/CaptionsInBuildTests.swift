import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp
@testable import AcervoSources

/// Captions through the real `acervo` binary: what a caption file's reader had to leave out reaches the
/// build summary, `why` and `trace`; a caption file rewritten without changing its text changes nothing
/// downstream.
@Suite(.serialized) struct CaptionsInBuildTests {
    static let lesson = "01-fundamentos/02-variables"

    @Test func `a Windows-1252 SubRip with a lost block is read, and build, why and trace show the warning and the encoding`() async throws {
        try await offPool {
            let project = try ExampleCourseTests.Project()
            let srt = "1\r\n00:00:00,000 --> 00:00:04,000\r\nUna variable es un nombre, señor.\r\n\r\n"
                + "2\r\nEste bloque perdió su tiempo.\r\n\r\n3\r\n00:00:04,000 --> 00:00:08,000\r\n¿Qué tipo tiene?\r\n"
            try #require(srt.data(using: .isoLatin1)).write(to: URL(fileURLWithPath: project.path + "/examples/course/\(Self.lesson)/captions.srt"))
            let warning = #"line 5: text without a timing line was skipped ("Este bloque perdió su tiempo.")"#

            let build = try acervo(["build"], in: project.path)
            #expect(build.status == 0, "\(build.stderr)")
            #expect(build.stdout.contains("  warning \(Self.lesson) transcript: \(warning)\n"), "\(build.stdout)")

            let why = try acervo(["why", Self.lesson, "transcript"], in: project.path)
            #expect(why.stdout.hasPrefix("transcript: executed"))
            #expect(why.stdout.contains("    warning: \(warning)\n"))

            let steps = try decodeJSON([ProvenanceStep].self, try acervo(["trace", Self.lesson, "--json"], in: project.path).stdout)
            let transcript = try #require(steps.first { $0.rule == "transcript" })
            #expect(transcript.metadata == ["format": "SubRip", "encoding": "windows-1252"])
            #expect(transcript.warnings == [warning])
            let trace = try acervo(["trace", Self.lesson], in: project.path)
            #expect(trace.stdout.contains("    meta encoding = windows-1252\n"))
            #expect(trace.stdout.contains("    warning \(warning)\n"))

            // The text reaches the document decoded, not as mojibake.
            let document = try #require(steps.first { $0.rule == "document" }?.outputs["out"])
            let markdown = try acervo(["cat", document.description], in: project.path).stdout
            #expect(markdown.contains("[00:00] Una variable es un nombre, señor.\n[00:04] ¿Qué tipo tiene?\n"))

            // The warning is the result's: a rebuild reuses it, and `why` still shows it.
            let again = try decodeJSON(BuildSummary.self, try acervo(["build", "--json"], in: project.path).stdout)
            #expect(again.executed == 0 && again.warnings.isEmpty)
            #expect(try acervo(["why", Self.lesson, "transcript"], in: project.path).stdout.contains("    warning: \(warning)\n"))
        }
    }

    @Test func `of several caption files, the one in the lesson's language is read, else an untagged one`() async throws {
        try await offPool {
            #expect(LocalCourseSource.preferredCaptions(["clase.en.srt", "clase.es.vtt"], language: "es") == "clase.es.vtt")
            #expect(LocalCourseSource.preferredCaptions(["a.en.srt", "b.pt-BR.vtt"], language: "pt") == "b.pt-BR.vtt")
            #expect(LocalCourseSource.preferredCaptions(["a.en.srt", "captions.final.vtt"], language: "es") == "captions.final.vtt")
            #expect(LocalCourseSource.preferredCaptions(["a.en.srt", "b.fr.vtt"], language: "es") == "a.en.srt")
            #expect(LocalCourseSource.preferredCaptions(["a.en.srt"], language: nil) == "a.en.srt")
            #expect(LocalCourseSource.preferredCaptions([], language: "es") == nil)
            #expect(LocalCourseSource.preferredCaptions(["a.en.srt", "b.pt.vtt"], language: "pt-BR") == "b.pt.vtt", "a lesson in pt-BR reads plain pt")
            #expect(LocalCourseSource.preferredCaptions(["a.pt.srt", "b.pt_br.vtt"], language: "pt-BR") == "b.pt_br.vtt", "the exact tag first")

            // Through a build: English captions beside the Spanish ones (sorted first, and in SBV) are not read.
            let project = try ExampleCourseTests.Project()
            try project.write("0:00:00.000,0:00:03.500\nHello and welcome.\n", to: "examples/course/01-fundamentos/01-introduccion/00-intro.en.sbv")
            _ = try project.build()
            let steps = try decodeJSON([ProvenanceStep].self, try acervo(["trace", "01-fundamentos/01-introduccion", "--json"], in: project.path).stdout)
            #expect(steps.first { $0.rule == "transcript" }?.outputs["out"]?.description
                == Self.versionOneOutputs["01-fundamentos/01-introduccion:transcript"])
        }
    }

    @Test func `a course's and a lesson's language are read as BCP-47 codes`() async throws {
        let folder = TemporaryDirectory("acervo-language")
        let files = FileManager.default
        try files.createDirectory(atPath: folder.path + "/01-m/01-a", withIntermediateDirectories: true)
        try files.createDirectory(atPath: folder.path + "/01-m/02-b", withIntermediateDirectories: true)
        try "name: Curso\nlanguage: Spanish\n".write(toFile: folder.path + "/course.yaml", atomically: true, encoding: .utf8)
        try "title: Aula\nlanguage: pt_br\n".write(toFile: folder.path + "/01-m/02-b/lesson.yaml", atomically: true, encoding: .utf8)
        try "WEBVTT\n\n00:00.000 --> 00:01.000\nHola\n".write(toFile: folder.path + "/01-m/01-a/a.vtt", atomically: true, encoding: .utf8)
        try "WEBVTT\n\n00:00.000 --> 00:01.000\nOi\n".write(toFile: folder.path + "/01-m/02-b/b.vtt", atomically: true, encoding: .utf8)
        let items = try await LocalCourseSource(path: folder.path).items(store: Store.inMemory())
        #expect(Dictionary(uniqueKeysWithValues: items.map { ($0.id, $0.metadata["language"]?.string) }) == ["01-m/01-a": "es", "01-m/02-b": "pt-BR"])
    }

    /// The outputs `captions@1` and `materials.text@1` gave for the example course (built by the last
    /// version that had them). Version 2 must give the same bytes wherever version 1 read the file well, so
    /// that upgrading a store re-runs these free actions and nothing downstream of them.
    static let versionOneOutputs = [
        "01-fundamentos/01-introduccion:transcript": "sha256:c5ca2bd622985eda9c2b164583edcacaab16fe8226b35ea55b47799496e64d25",
        "01-fundamentos/02-variables:transcript": "sha256:868a50a4d07a97b0470a3e1605e4f0517d7cd40e2e559869d422519bcdab04a9",
        "02-dados-em-python/02-arquivos-csv:transcript": "sha256:f7b5b5f670f1b0072b8ae9a0ce473fe20fb81e097e25dd51a1afbdf5e0b11dc8",
        "01-fundamentos/01-introduccion:materials_text": "sha256:e298249a3fde9456a6ffcc314059c48b36eed048b0ec1463e4145a8562d3c220",
        "01-fundamentos/02-variables:materials_text": "sha256:d7a6b251e7d79c5a80eccdc7aeec6f273fa7f2530765dc5e83a38940c3fc4495",
        "01-fundamentos/03-funciones:materials_text": "sha256:1106c2e94dce4e124d3b47acbb78c3457ed0b2cba7d7df1a190e9784659e55b9",
        "02-dados-em-python/02-arquivos-csv:materials_text": "sha256:073d72c03ffc5ab1a42f83fb5452c360ed5bab34fa9c90a74805fa3294eaaa08",
    ]

    @Test func `clean captions keep their transcripts; captions rewritten with the same text re-run the transcript only`() async throws {
        try await offPool {
            let project = try ExampleCourseTests.Project()
            let first = try project.build()
            #expect(first.failed == 0)
            for (step, digest) in Self.versionOneOutputs {
                let (item, rule) = (String(step.split(separator: ":")[0]), String(step.split(separator: ":")[1]))
                let steps = try decodeJSON([ProvenanceStep].self, try acervo(["trace", item, "--json"], in: project.path).stdout)
                #expect(steps.first { $0.rule == rule }?.outputs["out"]?.description == digest, "\(step)")
            }
            // 03-funciones's first cue has a voice (`<v Profesora>`): its transcript now names the speaker, so it
            // differs — but its document does not.

            // The same cues with CRLF line endings, a BOM, cue identifiers, a NOTE, cue settings and a character
            // reference for a letter the original wrote as is.
            let path = "examples/course/01-fundamentos/01-introduccion/captions.vtt"
            let rewritten = "\u{FEFF}WEBVTT - exportado de otra herramienta\r\n\r\nNOTE revisado\r\n\r\n"
                + "1\r\n00:00:00.000 --> 00:00:03.500 align:start\r\nHola y bienvenidos al curso de Python desde cero.\r\n\r\n"
                + "2\r\n00:00:03.500 --> 00:00:07.000\r\nEn esta introducci&oacute;n vamos a instalar Python y escribir nuestro primer programa.\r\n\r\n"
                + "3\r\n00:00:07.000 --> 00:00:10.000\r\n<c.yellow>El clásico hola mundo</c> se escribe con la función print.\r\n"
            try project.write(rewritten, to: path)
            let second = try project.build()
            #expect(try project.executed(second) == ["01-fundamentos/01-introduccion:transcript"])
            #expect(second.snapshot == first.snapshot, "the knowledge base is the same one")
        }
    }
}
