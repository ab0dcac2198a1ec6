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

    @Test func `a damaged document is never exported or printed, and the next build recomputes it`() async throws {
        try await offPool {
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
            let said = try acervo(["kb", "export", "latest", project.path + "/said"], in: project.path)
            #expect(said.status == 1 && said.stderr.contains("acervo: could not write \(Self.lesson)"), "errors go to stderr: \(said.stderr)")
            #expect(said.stdout.split(separator: "\n") == ["wrote 4 documents and manifest.json to \(project.path)/said"], "\(said.stdout)")

            let healed = try project.build()
            #expect(try project.executed(healed) == ["\(Self.lesson):document"])
            #expect(healed.snapshot == first.snapshot)
            #expect(try acervo(["kb", "export", "latest", project.path + "/export2"], in: project.path).status == 0)
            #expect(try String(contentsOfFile: project.path + "/export2/" + Self.lesson + ".md", encoding: .utf8) == original)
        }
    }

    @Test func `a damaged snapshot manifest is a clear error for export and is written again by the next build`() async throws {
        try await offPool {
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
    }

    @Test func `a keyframes tree that lost one frame is a miss for the next build, which makes it whole again`() async throws {
        try await offPool {
            let project = try ExampleCourseTests.Project()
            _ = try project.build()
            let steps = try decodeJSON([ProvenanceStep].self, try acervo(["trace", Self.lesson, "--json"], in: project.path).stdout)
            let tree = try #require(steps.first { $0.rule == "frames" }?.outputs["out"]).description
            let members = try JSONDecoder().decode([TreeEntry].self, from: Data(try acervo(["cat", tree], in: project.path).stdout.utf8))
            let frame = try #require(members.last).digest.description
            try FileManager.default.removeItem(atPath: objectPath(project, frame))
            #expect(try acervo(["fsck"], in: project.path).status == 1, "fsck reports the missing member")

            let next = try acervo(["build", "--json"], in: project.path)
            #expect(next.status == 0, "\(next.stderr)")
            let summary = try decodeJSON(BuildSummary.self, next.stdout)
            struct Decisions: Decodable { var events: [Event] }
            let events = try decodeJSON(Decisions.self, try acervo(["runs", "show", summary.run, "--json"], in: project.path).stdout).events
            let frames = try #require(events.first { $0.itemID == Self.lesson && $0.rule == "frames" })
            #expect(frames.decision == .executed && frames.reason.description == "output missing from the store", "\(frames.reason)")
            #expect(FileManager.default.fileExists(atPath: objectPath(project, frame)), "the frame is back")
            #expect(try acervo(["fsck"], in: project.path).status == 0)
            let again = try decodeJSON(BuildSummary.self, try acervo(["build", "--json"], in: project.path).stdout)
            #expect(again.executed == 0)
        }
    }

    @Test func `export names every file inside the folder, whatever the item id`() async throws {
        try await offPool {
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
}

/// A damaged `acervo.sqlite`, four ways: every command says what to do, `fsck --repair` rebuilds it from what
/// SQLite can still read and what the objects hold, and the next build recomputes nothing it had paid for.
@Suite(.serialized) struct DamagedDatabaseTests {
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case halfTruncated, garbageHeader, garbagePages, empty
        var testDescription: String { rawValue }

        func apply(to path: String) throws {
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            switch self {
            case .halfTruncated: try handle.truncate(atOffset: size / 2)
            case .garbageHeader:
                try handle.seek(toOffset: 0)
                try handle.write(contentsOf: Data(repeating: 0x5A, count: 100))
            case .garbagePages:
                var generator = SeededGenerator(seed: 7)
                for page in stride(from: UInt64(4096), to: size, by: 4096 * 3) {
                    try handle.seek(toOffset: page)
                    try handle.write(contentsOf: Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }))
                }
            case .empty: try handle.truncate(atOffset: 0)
            }
        }
    }

    @Test(arguments: Damage.allCases)
    func `a damaged database is reported, rebuilt by fsck --repair, and nothing paid for is recomputed`(damage: Damage) async throws {
        try await offPool {
            let project = try ExampleCourseTests.Project()
            let first = try project.build()
            try damage.apply(to: project.path + "/store/acervo.sqlite")
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: project.path + "/store/acervo.sqlite" + suffix) }

            let build = try acervo(["build"], in: project.path)
            #expect(build.status == 2, "\(build.stdout)")
            #expect(build.stderr.contains("run `acervo fsck --repair`"), "\(build.stderr)")
            let check = try acervo(["fsck"], in: project.path)
            #expect(check.status == 1 && check.stdout.contains("database damaged: "), "\(check.stdout)\(check.stderr)")

            let repair = try acervo(["fsck", "--repair", "--json"], in: project.path)
            #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
            let report = try decodeJSON(FsckReport.self, repair.stdout)
            let recovery = try #require(report.recovery)
            #expect(recovery.snapshotsFound + (recovery.salvagedRows["refs"] ?? 0) >= 1)
            #expect(report.isClean)
            let entries = Set(try FileManager.default.contentsOfDirectory(atPath: project.path + "/store"))
            #expect(entries.isSubset(of: ["objects", "tmp", "quarantine", "lock", "README.md", "acervo.sqlite", "acervo.sqlite-wal", "acervo.sqlite-shm"]))

            let rebuilt = try project.build()
            let executed = try project.executed(rebuilt)
            #expect(rebuilt.executed == 0, "every paid-for result came back: \(executed)")
            #expect(rebuilt.snapshot == first.snapshot)
            #expect(try acervo(["fsck"], in: project.path).status == 0)
        }
    }
}
