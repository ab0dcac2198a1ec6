import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

/// The whole path on the example course, through the real `acervo` binary: build, rebuild, edits, search.
@Suite(.serialized) struct ExampleCourseTests {
    /// A copy of `rules/` and `examples/course/` in a temp project folder, so edits touch nothing committed.
    final class Project: @unchecked Sendable {
        private let directory = TemporaryDirectory("acervo-example")
        var path: String { directory.path }

        init() throws {
            try copyExampleProject(into: path)
        }

        func build() throws -> BuildSummary {
            let outcome = try acervo(["build", "--json"], in: path)
            #expect([0, 1].contains(outcome.status), "\(outcome.stderr)")
            return try decodeJSON(BuildSummary.self, outcome.stdout)
        }

        /// "item:rule" for every executed action of a run.
        func executed(_ summary: BuildSummary) throws -> Set<String> {
            let outcome = try acervo(["runs", "show", summary.run, "--json"], in: path)
            struct Report: Decodable { var events: [Event] }
            let report = try decodeJSON(Report.self, outcome.stdout)
            return Set(report.events.filter { $0.decision == .executed }.map { "\($0.itemID):\($0.rule)" })
        }

        func write(_ text: String, to relative: String) throws {
            try text.write(toFile: path + "/" + relative, atomically: true, encoding: .utf8)
        }
    }

    static let knowledgeBaseDigest = "sha256:f929a65c89b672c89a0238803265aac346d373b8de4b2d9e0720cd7d8c0d03f4"

    @Test func `build, rebuild, edit a caption, retitle, delete: each re-runs exactly its own chain`() async throws {
        try await offPool { () throws in
            let project = try Project()

            let first = try project.build()
            #expect(first.executed == 38 && first.failed == 0 && first.notApplicable == 2)
            // The knowledge base the README shows: it moves only on purpose, and the README with it.
            #expect(first.snapshot == Self.knowledgeBaseDigest)
            #expect(try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8).contains("knowledge base: \(Self.knowledgeBaseDigest) (kb/latest)"))
            let second = try project.build()
            #expect(second.executed == 0 && second.hits == 38 && second.snapshot == first.snapshot)

            let captions = "examples/course/01-fundamentos/02-variables/captions.srt"
            let original = try String(contentsOfFile: project.path + "/" + captions, encoding: .utf8)
            try project.write(original.replacingOccurrences(of: "booleanos", with: "valores lógicos"), to: captions)
            let edited = try project.build()
            #expect(try project.executed(edited) == [
                "01-fundamentos/02-variables:transcript", "01-fundamentos/02-variables:class", "01-fundamentos/02-variables:document",
            ])

            try project.write("title: Variables, tipos y valores\n", to: "examples/course/01-fundamentos/02-variables/lesson.yaml")
            let retitled = try project.build()
            #expect(try project.executed(retitled) == ["01-fundamentos/02-variables:document"])

            try FileManager.default.removeItem(atPath: project.path + "/examples/course/02-dados-em-python/01-listas")
            let deleted = try project.build()
            #expect(deleted.executed == 0)

            let diff = try acervo(["kb", "diff", try #require(first.snapshot), "latest", "--json"], in: project.path)
            let changes = try decodeJSON(SnapshotDiff.self, diff.stdout)
            #expect(changes.added.isEmpty)
            #expect(changes.removed == ["02-dados-em-python/01-listas"])
            #expect(changes.changed.map(\.itemID) == ["01-fundamentos/02-variables"])
            #expect(changes.changed.first?.fields == ["document", "title", "attributes"], "the title is also an attribute")
        }
    }

    @Test func `search finds a phrase only spoken, one only on a slide, one only in a PDF, with filters`() async throws {
        try await offPool { () throws in
            let project = try Project()
            _ = try project.build()

            let spoken = try acervo(["search", "clasico hola mundo", "--json"], in: project.path)
            let spokenHits = try decodeJSON([SearchHit].self, spoken.stdout)
            #expect(spokenHits.first?.item == "01-fundamentos/01-introduccion")
            #expect(spokenHits.first?.snippet.contains("[clásico]") == true)

            let slide = try acervo(["search", "nombres descriptivos", "--json"], in: project.path)
            let slideHits = try decodeJSON([SearchHit].self, slide.stdout)
            #expect(slideHits.map(\.item) == ["01-fundamentos/02-variables"], "the phrase is only on a slide: found by OCR")

            let pdf = try acervo(["search", "valor por defecto"], in: project.path)
            #expect(pdf.stdout.hasPrefix("01-fundamentos/03-funciones"))

            let portuguese = try acervo(["search", "lista", "--language", "pt", "--json"], in: project.path)
            let hits = try decodeJSON([SearchHit].self, portuguese.stdout)
            #expect(!hits.isEmpty && hits.allSatisfy { $0.attributes["language"] == "pt" })
        }
    }

    @Test func `a second build while the store is locked exits 4 naming the holder`() async throws {
        let project = try Project()
        let store = try await Store.open(at: project.path + "/store")
        let lock = try await StoreLock.acquire(storeRoot: try #require(store.root), purpose: "acervo build", wait: false)
        defer { withExtendedLifetime(lock) {} }

        let outcome = try acervo(["build"], in: project.path)

        #expect(outcome.status == 4)
        #expect(outcome.stderr.contains("the store is locked by another build (pid \(getpid()), acervo build"))
    }

    @Test func `a mistake in the rules exits 2 with file, line and fix`() async throws {
        try await offPool { () throws in
            let project = try Project()
            try project.write("""
                rules:
                  transcript: { processor: captions@2, input: captons }
                  document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: transcript } }
                """, to: "rules/pipeline.yaml")
            let outcome = try acervo(["build"], in: project.path)
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains("rules/pipeline.yaml:2:"))
            #expect(outcome.stderr.contains("unknown input `captons`; did you mean `captions`?"))
        }
    }

    @Test func `snapshots can be listed and exported as Markdown files`() async throws {
        try await offPool { () throws in
            let project = try Project()
            let summary = try project.build()
            let snapshots = try decodeJSON([SnapshotInfo].self, try acervo(["kb", "list", "--json"], in: project.path).stdout)
            #expect(snapshots.map(\.name) == ["snapshots/\(summary.run)"] && snapshots.first?.documents == 5)

            let exported = try acervo(["kb", "export", summary.run, project.path + "/export"], in: project.path)
            #expect(exported.status == 0 && exported.stdout == "wrote 5 documents and manifest.json to \(project.path)/export\n")
            let document = try String(contentsOfFile: project.path + "/export/01-fundamentos/02-variables.md", encoding: .utf8)
            #expect(document.hasPrefix("---\n") && document.contains("title: \"Variables y tipos de datos\""))
            #expect(document.contains("## On-screen text") && document.contains("## Transcript") && document.contains("## Materials"))
            let manifest = try decodeJSON(SnapshotManifest.self, try String(contentsOfFile: project.path + "/export/manifest.json", encoding: .utf8))
            #expect(manifest.entries.count == 5)
        }
    }

    @Test func `plan, why and trace explain the build`() async throws {
        try await offPool { () throws in
            let project = try Project()
            let planBefore = try acervo(["plan", "--json"], in: project.path)
            let plan = try decodeJSON(BuildPlan.self, planBefore.stdout)
            #expect(plan.actions.count == 38 && plan.hits == 0)
            _ = try project.build()

            let why = try acervo(["why", "01-fundamentos/03-funciones", "document"], in: project.path)
            #expect(why.stdout.hasPrefix("document: executed — new item"))
            let trace = try acervo(["trace", "01-fundamentos/03-funciones", "--json"], in: project.path)
            let steps = try decodeJSON([ProvenanceStep].self, trace.stdout)
            #expect(steps.map(\.rule) == ["audio", "class", "document", "frames", "materials_text", "media", "ocr", "transcript"])
            #expect(steps.first { $0.rule == "class" }?.files.keys.sorted() == ["taxonomy.yaml"])
        }
    }
}
