import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

/// A store damaged on disk, through the real binary: damaged bytes never leave it, and a build heals it.
@Suite(.serialized) struct DamageTests {
    static let lesson = "01-fundamentos/03-funciones"

    func objectPath(_ project: ExampleCourseTests.Project, _ digest: String) -> String {
        let hex = digest.dropFirst("sha256:".count)
        return project.path + "/store/objects/sha256/\(hex.prefix(2))/\(hex.dropFirst(2))"
    }

    @Test func `a damaged document is never exported or printed, and the next build recomputes it`() throws {
        let project = try ExampleCourseTests.Project()
        let first = try project.build()
        let steps = try decodeJSON([ProvenanceStep].self, try acervo(["trace", Self.lesson, "--json"], in: project.path).stdout)
        let document = try #require(steps.first { $0.rule == "document" }?.outputs["out"]).description
        let original = try acervo(["cat", document], in: project.path).stdout
        try corrupt(objectPath(project, document))

        let cat = try acervo(["cat", document], in: project.path)
        #expect(cat.status != 0 && cat.stdout.isEmpty, "not a byte of it is printed")
        #expect(cat.stderr.contains("the stored bytes of \(document) no longer match their digest"))

        // Quarantined by `cat`; damage another way for export: truncate the object.
        #expect(FileManager.default.fileExists(atPath: project.path + "/store/quarantine/" + document.dropFirst(7)))
        _ = try project.build()
        let second = try decodeJSON([ProvenanceStep].self, try acervo(["trace", Self.lesson, "--json"], in: project.path).stdout)
        #expect(second.first { $0.rule == "document" }?.outputs["out"]?.description == document, "recomputed, the same bytes")
        let path = objectPath(project, document)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))

        let export = try acervo(["kb", "export", "latest", project.path + "/export", "--json"], in: project.path)
        #expect(export.status == 1)
        let report = try decodeJSON(ExportReport.self, export.stdout)
        #expect(report.failures.map(\.itemID) == [Self.lesson])
        #expect(report.failures.first?.error.contains("no longer match their digest") == true)
        #expect(report.written.count == 4, "the other documents are written")
        #expect(!FileManager.default.fileExists(atPath: project.path + "/export/" + Self.lesson + ".md"))

        let healed = try project.build()
        #expect(try project.executed(healed) == ["\(Self.lesson):document"])
        #expect(healed.snapshot == first.snapshot)
        #expect(try acervo(["kb", "export", "latest", project.path + "/export2"], in: project.path).status == 0)
        #expect(try String(contentsOfFile: project.path + "/export2/" + Self.lesson + ".md", encoding: .utf8) == original)
    }

    @Test func `a damaged snapshot manifest is a clear error for export and is written again by the next build`() throws {
        let project = try ExampleCourseTests.Project()
        let first = try project.build()
        let manifest = try #require(first.snapshot)
        let path = objectPath(project, manifest)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        try corrupt(path)

        let export = try acervo(["kb", "export", "latest", project.path + "/export"], in: project.path)
        #expect(export.status == 2)
        #expect(export.stderr.contains("the stored bytes of \(manifest) no longer match their digest"), "\(export.stderr)")

        let second = try project.build()
        #expect(second.executed == 0 && second.snapshot == first.snapshot)
        #expect(try acervo(["kb", "export", "latest", project.path + "/export"], in: project.path).status == 0)
        #expect(try acervo(["fsck"], in: project.path).status == 0)
    }

    @Test func `export names every file inside the folder, whatever the item id`() throws {
        #expect(ExportReport.relativePath(for: "m/l") == "m/l.md")
        #expect(ExportReport.relativePath(for: "hotmart/../../etc/passwd") == "hotmart/%2E%2E/%2E%2E/etc/passwd.md")
        #expect(ExportReport.relativePath(for: "/abs//x") == "%/abs/%/x.md")
        #expect(ExportReport.relativePath(for: "50%/.") == "50%25/%2E.md")
        let long = String(repeating: "ñ", count: 200)
        let name = ExportReport.relativePath(for: "m/" + long)
        #expect(name.split(separator: "/").allSatisfy { $0.utf8.count <= 255 })
        #expect(name != ExportReport.relativePath(for: "m/" + long + "x"), "different ids never share a file")
    }
}
