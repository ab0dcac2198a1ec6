import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

/// Broken lessons fail alone, with a message that says what is wrong; the rest of the course completes and
/// the knowledge base keeps each broken lesson's previous document. A broken material is not a broken lesson.
@Suite(.serialized) struct BadLessonTests {
    @Test func `bad media, files and folder names fail per lesson and keep the previous documents`() async throws {
        let project = try ExampleCourseTests.Project()
        let course = project.path + "/examples/course"
        let first = try await offPool { try project.build() }
        #expect(first.failed == 0)

        try Data("this is not a video".utf8).write(to: URL(fileURLWithPath: course + "/01-fundamentos/01-introduccion/01-introduccion.mp4"))
        try Data().write(to: URL(fileURLWithPath: course + "/01-fundamentos/02-variables/02-variables.mp4"))
        try Data("<html>404</html>".utf8).write(to: URL(fileURLWithPath: course + "/01-fundamentos/03-funciones/funciones.pdf"))
        try project.write("WEBVTT\n\n00:00:0x.000 --> 00:00:02.000\nOlá\n", to: "examples/course/02-dados-em-python/01-listas/legendas.vtt")
        let silent = course + "/02-dados-em-python/03-sin sonido ñandú"
        try FileManager.default.createDirectory(atPath: silent, withIntermediateDirectories: true)
        let ffmpeg = try await offPool {
            try run("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=160x90:d=1", "-an", silent + "/mudo.mp4"])
        }
        #expect(ffmpeg.status == 0, "ffmpeg is needed: run scripts/setup")
        try project.write("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nSin sonido\n", to: "examples/course/02-dados-em-python/03-sin sonido ñandú/mudo.vtt")
        try FileManager.default.createDirectory(atPath: course + "/02-dados-em-python/04-bell\u{7}", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: course + "/02-dados-em-python/05-binario", withIntermediateDirectories: true)
        try Data([0x00, 0x01, 0xFF, 0xFE, 0x89, 0x50, 0x4E, 0x47]).write(to: URL(fileURLWithPath: course + "/02-dados-em-python/05-binario/lesson.yaml"))
        try FileManager.default.createDirectory(atPath: course + "/02-dados-em-python/06-linea\nnueva", withIntermediateDirectories: true)

        let text = try await acervoOffPool(["plan"], in: project.path)  // reads the course, builds nothing
        #expect(text.status == 0, "\(text.stderr)")
        let outcome = try await acervoOffPool(["build", "--json"], in: project.path)
        #expect(outcome.status == 1)
        let summary = try decodeJSON(BuildSummary.self, outcome.stdout)
        let failures = Dictionary(grouping: summary.failures, by: \.item)

        #expect(failures["01-fundamentos/01-introduccion"]?.first { $0.rule == "media" }?.error
            .hasPrefix("the video `01-introduccion.mp4` cannot be read: it is corrupt, cut short or not a video (ffprobe: ") == true)
        // For people: one line per lesson and cause, the rules it failed and stopped together.
        let introduction = try #require(summary.problems.first { $0.item == "01-fundamentos/01-introduccion" })
        #expect(introduction.failedRules == ["audio", "frames", "media"] && introduction.stoppedRules == ["class", "document", "ocr"])
        #expect(summary.problems.filter { $0.item == "01-fundamentos/01-introduccion" }.count == 1)
        #expect(!introduction.cause.contains("/store/") && !introduction.cause.contains("setpriv") && !introduction.cause.contains("arguments"))
        #expect(failures["01-fundamentos/02-variables"]?.first { $0.rule == "media" } != nil)
        // An unreadable material is left out with a warning; the lesson's document is still made.
        #expect(failures["01-fundamentos/03-funciones"] == nil)
        #expect(summary.warnings.contains {
            $0.item == "01-fundamentos/03-funciones" && $0.rule == "materials_text"
                && $0.message.hasPrefix("material `funciones.pdf` was skipped: pdftotext cannot read it")
        })
        #expect(failures["02-dados-em-python/01-listas"]?.first { $0.rule == "transcript" }?.error
            .hasPrefix("the captions `legendas.vtt` cannot be read: no caption block can be read (1 skipped): line 3: cannot read the timestamps in '00:00:0x.000 --> 00:00:02.000'") == true)
        #expect(failures["02-dados-em-python/03-sin sonido ñandú"]?.map(\.rule) == ["audio"])
        #expect(failures["02-dados-em-python/03-sin sonido ñandú"]?.first?.error.hasPrefix("the video `mudo.mp4` has no sound") == true)
        // Invisible characters in a folder's name are shown escaped: a line break never breaks a message's line.
        #expect(failures["02-dados-em-python/04-bell\\x07"]?.map(\.rule) == ["detect"])
        #expect(failures["02-dados-em-python/04-bell\\x07"]?.first?.error.contains("invisible character U+7") == true)
        #expect(failures["02-dados-em-python/06-linea\\x0Anueva"]?.map(\.rule) == ["detect"])
        #expect(failures["02-dados-em-python/05-binario"]?.first?.error
            == "`lesson.yaml` is not a text file (UTF-8 YAML with `title:`, `level:` …); fix it or remove it")
        #expect(failures["02-dados-em-python/02-arquivos-csv"] == nil)

        let manifest = try decodeJSON(SnapshotManifest.self, try await acervoOffPool(["kb", "show", "--json"], in: project.path).stdout)
        let entries = Dictionary(uniqueKeysWithValues: manifest.entries.map { ($0.itemID, $0) })
        let before = Dictionary(uniqueKeysWithValues: try decodeJSON(
            SnapshotManifest.self, try await acervoOffPool(["kb", "show", try #require(first.snapshot), "--json"], in: project.path).stdout).entries.map { ($0.itemID, $0) })
        for broken in ["01-fundamentos/01-introduccion", "01-fundamentos/02-variables", "02-dados-em-python/01-listas"] {
            #expect(entries[broken]?.kept == true, "\(broken) keeps its previous document")
            #expect(entries[broken]?.document == before[broken]?.document)
        }
        #expect(entries["01-fundamentos/03-funciones"]?.kept == false)
        #expect(entries["02-dados-em-python/02-arquivos-csv"]?.kept == false)
        #expect(entries["02-dados-em-python/03-sin sonido ñandú"]?.kept == false, "a silent video still gives a document")
        #expect(entries["02-dados-em-python/04-bell\\x07"] == nil)

        // The same, as a person reads it: every line of the summary is one lesson's cause.
        let printed = try await acervoOffPool(["build"], in: project.path)
        #expect(printed.status == 1)
        let failedLines = printed.stdout.split(separator: "\n").filter { $0.hasPrefix("  failed ") }
        #expect(failedLines.count == summary.problems.count, "\(printed.stdout)")
        #expect(failedLines.contains { $0.hasPrefix("  failed 02-dados-em-python/06-linea\\x0Anueva: ") })
        #expect(failedLines.contains {
            $0.hasPrefix("  failed 01-fundamentos/01-introduccion: the video `01-introduccion.mp4` cannot be read")
                && $0.hasSuffix("— failed: audio, frames, media; not run: class, document, ocr")
        }, "\(failedLines)")
        #expect(try await Store.open(at: project.path + "/store").fsck(repair: false).isClean)
    }
}
