import AcervoEngine
import AcervoFormats
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoProcessors

@Suite struct CaptionsProcessorTests {
    @Test func `skipped blocks are the action's warnings; format and encoding its metadata`() async throws {
        let scratch = try await Scratch()
        let latin1: [UInt8] = Array("1\n00:00:00,000 --> 00:00:02,000\nOl".utf8) + [0xE1] + Array("\n\n2\n00:00:0x,000 --> 00:00:03,000\nmal\n".utf8)
        let captions = try await scratch.store.put(bytes: latin1).digest
        let output = try await CaptionsProcessor().run(scratch.action(inputs: ["captions": captions], params: ["language": .string("pt")]))
        let transcript = try Transcript.decode(try await scratch.store.blobs.bytes(of: output.output))
        #expect(transcript.text == "Olá")
        #expect(output.warnings == [#"line 6: cannot read the timestamps in '00:00:0x,000 --> 00:00:03,000' (expected 00:01:02,500 --> 00:01:05,000); the cue was skipped ("mal")"#])
        #expect(output.metadata == ["format": "SubRip", "encoding": "windows-1252"])
        #expect(output.usage == ["cues": 1])
    }

    @Test func `an unreadable caption file fails with the line and the fix`() async throws {
        let scratch = try await Scratch()
        for (text, message) in [("just some text", "the captions hold no cues"), ("WEBVTT\n\n00:00.000 --> 00:01.000\n\u{7}\n", "the captions cannot be read: line 4: control character")] {
            let captions = try await scratch.put(text)
            do {
                _ = try await CaptionsProcessor().run(scratch.action(inputs: ["captions": captions]))
                Issue.record("expected a failure for \(text)")
            } catch let failure as ProcessorFailure {
                #expect(failure.description.contains(message), "\(failure.description)")
                #expect(failure.input == "captions", "the engine names the file")
                #expect(failure.description.hasSuffix("; fix the file, or re-export it as UTF-8 WebVTT or SubRip"))
            }
        }
    }

    @Test func `the processor stores a transcript in the rule's language`() async throws {
        let scratch = try await Scratch()
        let captions = try await scratch.put("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nBuenos días\n")
        let output = try await CaptionsProcessor().run(scratch.action(inputs: ["captions": captions], params: ["language": .string("es")]))
        let transcript = try Transcript.decode(try await scratch.store.blobs.bytes(of: output.output))
        #expect(transcript.language == "es" && transcript.source == "captions" && transcript.text == "Buenos días")
        #expect(output.costUSD == 0)
    }
}

extension Scratch {
    /// `materials.text` run on a folder of these files (name → bytes): the text it stored, and its output.
    func materials(_ files: [String: [UInt8]]) async throws -> (text: MaterialsText, output: ProcessorOutput) {
        var entries: [TreeEntry] = []
        for (name, bytes) in files {
            let stored = try await store.put(bytes: bytes)
            entries.append(TreeEntry(name: name, digest: stored.digest, size: stored.size))
        }
        let tree = try await store.putTree(entries)
        let output = try await MaterialsProcessor().run(action(inputs: ["materials": tree]))
        return (try MaterialsText.decode(try await store.blobs.bytes(of: output.output)), output)
    }
}

@Suite struct MaterialsAndDocumentTests {
    @Test func `materials: text as is, PDFs through pdftotext, in name order`() async throws {
        let pdf = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/examples/course/01-fundamentos/03-funciones/funciones.pdf"))
        let (materials, _) = try await Scratch().materials(["b-funciones.pdf": Array(pdf), "a-notas.md": Array("  apuntes  \n".utf8)])
        #expect(materials.documents.map(\.name) == ["a-notas.md", "b-funciones.pdf"])
        #expect(materials.documents[0].text == "apuntes")
        #expect(materials.documents[1].text.contains("Una función sin return devuelve None."))
    }

    @Test func `an unreadable material is skipped with a warning; the others still count`() async throws {
        let (materials, output) = try await Scratch().materials([
            "broken.pdf": Array("<html>not a pdf</html>".utf8),
            "image.txt": [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00],
            "notas.md": Array("apuntes".utf8),
        ])
        #expect(materials.documents.map(\.name) == ["notas.md"])
        #expect(output.warnings.count == 2)
        #expect(output.warnings[0].hasPrefix("material `broken.pdf` was skipped: pdftotext cannot read it"))
        #expect(output.warnings[0].lowercased().contains("error"))
        #expect(output.warnings[1] == "material `image.txt` was skipped: line 3: byte 9 is NUL: this is not a text file")
    }

    @Test func `Latin-1 and UTF-16 text materials are decoded and their encoding recorded`() async throws {
        let (materials, output) = try await Scratch().materials([
            "a.txt": Array("Lecci".utf8) + [0xF3, 0x6E, 0x20, 0x93, 0x31, 0x94],
            "b.txt": [0xFF, 0xFE] + Array("Ação".data(using: .utf16LittleEndian)!),
            "c.md": [0xEF, 0xBB, 0xBF] + Array("# Título".utf8),
        ])
        #expect(materials.documents.map(\.text) == ["Lección “1”", "Ação", "# Título"])
        #expect(output.metadata == ["encoding of a.txt": "windows-1252", "encoding of b.txt": "utf-16le", "encoding of c.md": "utf-8 with BOM"])
        #expect(output.warnings.isEmpty)
    }

    @Test func `the classifier picks the label with most keyword matches`() async throws {
        let scratch = try await Scratch()
        let taxonomy = try await scratch.put("""
            school:
              tecnologia: { keywords: [python, codigo] }
              negocios: { keywords: [ventas] }
            topic:
              python: { keywords: [python, lista] }
              datos: { keywords: [csv] }
            level:
              inicial: { keywords: [introducción] }
              avanzado: { keywords: [metaclases] }
            """)
        let transcript = try await scratch.store.put(bytes: Transcript(language: "es", source: "captions", segments: [
            .init(startSeconds: 0, endSeconds: 1, text: "Introducción: Python usa código legible; una lista y un csv."),
        ]).encoded()).digest
        let output = try await TaxonomyClassifier().run(scratch.action(
            inputs: ["transcript": transcript], files: ["taxonomy.yaml": taxonomy]))
        let result = try JSONDecoder().decode([String: JSONValueBox].self, from: Data(try await scratch.store.blobs.bytes(of: output.output)))
        #expect(result["school"]?.text == "tecnologia" && result["school_score"]?.number == 1)
        #expect(result["topic"]?.text == "python" && result["topic_score"]?.number == 0.67)
        #expect(result["level"]?.text == "inicial" && result["level_score"]?.number == 1)
    }

    @Test func `the document has front matter with the attributes and every section`() async throws {
        let scratch = try await Scratch()
        let meta = try await scratch.put(#"{"title":"Funciones: def y return","course":"Python desde cero","order":3,"level":"inicial"}"#)
        let transcript = try await scratch.store.put(bytes: Transcript(language: "es", source: "captions", segments: [
            .init(startSeconds: 65, endSeconds: 70, text: "Se definen con def."),
        ]).encoded()).digest
        let classes = try await scratch.put(#"{"level":"avanzado","level_score":0.5,"school":"tecnologia"}"#)
        let output = try await MarkdownDocument().run(scratch.action(inputs: ["meta": meta, "transcript": transcript, "class": classes]))
        #expect(try await scratch.text(output.output) == """
            ---
            course: "Python desde cero"
            item_id: "m/l"
            level: "inicial"
            order: "3"
            school: "tecnologia"
            title: "Funciones: def y return"
            ---

            # Funciones: def y return

            ## Transcript

            [01:05] Se definen con def.

            """)
    }
}

/// Decodes the classifier's flat JSON (strings and numbers).
struct JSONValueBox: Decodable {
    var text: String?
    var number: Double?
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        text = try? container.decode(String.self)
        number = try? container.decode(Double.self)
    }
}
