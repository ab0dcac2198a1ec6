import AcervoEngine
import AcervoFormats
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoProcessors

@Suite struct CaptionsProcessorTests {
    @Test func `WebVTT cues become timed segments without voice tags`() throws {
        let segments = try CaptionParser.parse("""
            WEBVTT

            intro
            00:00:01.000 --> 00:00:04.250 align:start
            <v Ana>Hola a todos</v>

            01:02.500 --> 01:05.000
            segunda línea
            continúa
            """)
        #expect(segments == [
            .init(startSeconds: 1, endSeconds: 4.25, text: "Hola a todos"),
            .init(startSeconds: 62.5, endSeconds: 65, text: "segunda línea continúa"),
        ])
    }

    @Test func `SubRip timestamps with commas are read`() throws {
        let segments = try CaptionParser.parse("1\r\n00:00:00,000 --> 00:00:02,500\r\nOlá\r\n\r\n2\r\n00:00:02,500 --> 00:00:05,000\r\nmundo\r\n")
        #expect(segments.map(\.text) == ["Olá", "mundo"])
        #expect(segments[1].startSeconds == 2.5)
    }

    @Test(arguments: ["00:00:0x.000 --> 00:00:02.000", "00:00:01.000 --> 00:61:00.000", "00:00:05.000 --> 00:00:01.000"])
    func `a broken timestamp is an error naming the line`(cue: String) {
        do {
            _ = try CaptionParser.parse("WEBVTT\n\n\(cue)\ntexto\n")
            Issue.record("expected an error")
        } catch let failure as ProcessorFailure {
            #expect(failure.message.hasPrefix("captions line 3:"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func `a file with no cues is refused`() {
        #expect(throws: ProcessorFailure.self) { try CaptionParser.parse("just some text") }
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

@Suite struct MaterialsAndDocumentTests {
    @Test func `materials: text as is, PDFs through pdftotext, in name order`() async throws {
        let scratch = try await Scratch()
        let pdfPath = repositoryRoot + "/examples/course/01-fundamentos/03-funciones/funciones.pdf"
        let pdf = try await scratch.store.put(fileAt: pdfPath)
        let notes = try await scratch.store.put(bytes: Array("  apuntes  \n".utf8))
        let tree = try await scratch.store.putTree([
            TreeEntry(name: "b-funciones.pdf", digest: pdf.digest, size: pdf.size),
            TreeEntry(name: "a-notas.md", digest: notes.digest, size: notes.size),
        ])
        let output = try await MaterialsProcessor().run(scratch.action(inputs: ["materials": tree]))
        let materials = try MaterialsText.decode(try await scratch.store.blobs.bytes(of: output.output))
        #expect(materials.documents.map(\.name) == ["a-notas.md", "b-funciones.pdf"])
        #expect(materials.documents[0].text == "apuntes")
        #expect(materials.documents[1].text.contains("Una función sin return devuelve None."))
    }

    @Test func `a PDF that is not a PDF fails with pdftotext's own words`() async throws {
        let scratch = try await Scratch()
        let fake = try await scratch.store.put(bytes: Array("<html>not a pdf</html>".utf8))
        let tree = try await scratch.store.putTree([TreeEntry(name: "broken.pdf", digest: fake.digest, size: fake.size)])
        do {
            _ = try await MaterialsProcessor().run(scratch.action(inputs: ["materials": tree]))
            Issue.record("expected a failure")
        } catch let failure as ProcessorFailure {
            #expect(failure.message.contains("pdftotext"))
            #expect(failure.message.lowercased().contains("error"))
        }
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
