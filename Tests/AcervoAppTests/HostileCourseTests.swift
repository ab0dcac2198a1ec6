import AcervoEngine
import AcervoStore
import AcervoFakeServers
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

/// Course folders as a hostile or careless user leaves them: each problem fails its own lesson with a message
/// naming the file, the build completes, and nothing from outside the course reaches the knowledge base.
@Suite(.serialized) struct HostileCourseTests {
    @Test func `a material linked outside the course, a FIFO video, a YAML bomb and a folder name that is not UTF-8 fail their own lessons`() async throws {
        try await offPool {
            let project = try ExampleCourseTests.Project()
            let course = project.path + "/examples/course"
            let outside = project.path + "/secret.txt"
            try "contraseña del servidor: hunter2".write(toFile: outside, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: course + "/01-fundamentos/02-variables/notas.txt", withDestinationPath: outside)
            let video = course + "/01-fundamentos/01-introduccion/01-introduccion.mp4"
            try FileManager.default.removeItem(atPath: video)
            #expect(mkfifo(video, 0o644) == 0)
            // `03-clase` + 0xE9 (é in Latin-1): a folder name from an old disk.
            let latin1 = Array((course + "/02-dados-em-python/03-clase").utf8) + [0xE9]
            #expect((latin1 + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { mkdir($0.baseAddress!, 0o755) } } == 0)

            // A "billion laughs" in a lesson.yaml: nine levels of aliases.
            var bomb = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
            for level in 1..<9 { bomb.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]") }
            try project.write(bomb.joined(separator: "\n"), to: "examples/course/02-dados-em-python/02-arquivos-csv/lesson.yaml")

            let outcome = try acervo(["build", "--json"], in: project.path)
            #expect(outcome.status == 1, "\(outcome.stderr)")
            let summary = try decodeJSON(BuildSummary.self, outcome.stdout)
            let failures = Dictionary(grouping: summary.failures, by: \.item).mapValues { $0.map(\.error) }
            #expect(failures["01-fundamentos/02-variables"]?.first?.contains("`notas.txt` \(course)/01-fundamentos/02-variables/notas.txt points outside the course") == true,
                    "\(failures)")
            #expect(failures["01-fundamentos/01-introduccion"]?.first?.contains("`01-introduccion.mp4` is a FIFO (named pipe), not a regular file") == true)
            #expect(failures["02-dados-em-python/03-clase\\xE9"]?.first?.contains("the folder name `03-clase\\xE9` is not UTF-8") == true)
            #expect(failures["02-dados-em-python/02-arquivos-csv"]?.first?.contains("lesson.yaml:1:1: the YAML expands to more than 100000 values") == true)
            #expect(failures["02-dados-em-python/02-arquivos-csv"]?.first.map { $0.count < 400 } == true)
            #expect(summary.failures.count == 4)

            let export = project.path + "/export"
            #expect(try acervo(["kb", "export", "latest", export], in: project.path).status == 0)
            let files = (FileManager.default.enumerator(atPath: export)?.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".md") }
            #expect(files.count == 2, "\(files)")  // 03-funciones and 01-listas
            for name in files {
                #expect(!(try String(contentsOfFile: export + "/" + name, encoding: .utf8)).contains("hunter2"), "\(name)")
            }
        }
    }

    @Test func `a lesson with a 253-byte name is exported like the others`() async throws {
        try await offPool {
            let project = try ExampleCourseTests.Project()
            let name = "04-" + String(repeating: "a", count: 250)
            let folder = project.path + "/examples/course/02-dados-em-python/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try project.write("WEBVTT\n\n00:00.000 --> 00:01.000\nUna clase sin vídeo.\n", to: "examples/course/02-dados-em-python/\(name)/captions.vtt")
            let summary = try project.build()
            #expect(summary.failed == 0)

            let outcome = try acervo(["kb", "export", "latest", project.path + "/export", "--json"], in: project.path)
            #expect(outcome.status == 0, "\(outcome.stdout)")
            let report = try decodeJSON(ExportReport.self, outcome.stdout)
            #expect(report.written.count == 6 && report.failures.isEmpty)
            let long = try #require(report.written.first { $0.itemID.hasSuffix(name) })
            #expect(long.path.hasPrefix("02-dados-em-python/04-aaa") && long.path.hasSuffix(".md") && long.path.utf8.count < 300)
            #expect(try String(contentsOfFile: project.path + "/export/" + long.path, encoding: .utf8).contains("Una clase sin vídeo."))
        }
    }

    @Test func `acervo put refuses a FIFO instead of waiting for a writer`() async throws {
        try await offPool {
            let directory = TemporaryDirectory("acervo-fifo")
            let fifo = directory.path + "/pipe.mp4"
            #expect(mkfifo(fifo, 0o644) == 0)
            let outcome = try acervo(["put", fifo, "--store", directory.path + "/store"])
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("is a FIFO (named pipe), not a regular file"))
        }
    }
}

/// A remote catalog with hostile identifiers: they stay data — one part of an item id, one segment of a URL,
/// a file inside the export folder — and a line break in a title does not break the document.
@Suite(.serialized) struct HostileCatalogTests {
    @Test func `page and module ids with dots and slashes, and a title with a line break`() async throws {
        let hotmart = try await FakeHotmart.start()
        let media = try await FakeMediaServer.start()
        defer { Task { await hotmart.stop(); await media.stop() } }
        hotmart.setCatalog([
            .init("..", "Módulo", sequence: 1, lessons: [.init("../../etc/passwd", "Línea uno\nLínea dos", sequence: 1)]),
            .init("m2", "Otro", sequence: 2, lessons: [.init("p2", "Normal", sequence: 1)]),
        ])
        media.put("/media/../../etc/passwd.mp4", Array("video 1".utf8))
        media.put("/media/p2.mp4", Array("video 2".utf8))
        let directory = TemporaryDirectory("acervo-hostile-catalog")
        let project = directory.path + "/project"
        try FileManager.default.createDirectory(atPath: project + "/rules", withIntermediateDirectories: true)
        try """
            source: { kind: hotmart, subdomain: curso-python, course: Curso, media: { video_url: "\(media.baseURL)/media/{page_id}.mp4" } }
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            sink: { kind: local, document: document }
            """.write(toFile: project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let environment: [String: String?] = [
            "HOTMART_CLIENT_ID": hotmart.clientID, "HOTMART_CLIENT_SECRET": hotmart.clientSecret,
            "ACERVO_HOTMART_AUTH_URL": hotmart.baseURL, "ACERVO_HOTMART_API_URL": hotmart.baseURL,
        ]

        let build = try acervo(["build", "--json"], in: project, environment: environment)
        #expect(build.status == 0, "\(build.stdout)\(build.stderr)")
        #expect(hotmart.violations.isEmpty, "\(hotmart.violations)")
        #expect(media.uris.contains("/media/..%2F..%2Fetc%2Fpasswd.mp4"), "\(media.uris)")

        let manifest = try decodeJSON(SnapshotManifest.self, try acervo(["kb", "show", "--json"], in: project).stdout)
        #expect(manifest.entries.map(\.itemID) == ["hotmart/..%2F..%2Fetc%2Fpasswd", "hotmart/p2"])
        #expect(manifest.entries.first?.title == "Línea uno Línea dos")

        let export = try decodeJSON(ExportReport.self, try acervo(["kb", "export", "latest", directory.path + "/export", "--json"], in: project).stdout)
        #expect(export.failures.isEmpty)
        let document = try String(contentsOfFile: directory.path + "/export/hotmart/..%252F..%252Fetc%252Fpasswd.md", encoding: .utf8)
        #expect(document.contains("\n# Línea uno Línea dos\n"))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/etc"))
    }

    @Test func `an item id that could climb out of a folder fails its item, from any source`() {
        for id in ["a/../b", "../x", "a//b", "/a", "a/", "a\nb", ".", ""] {
            #expect(Item(id: id, metadata: [:], artifacts: [:]).idProblem != nil, "\(id.debugDescription)")
        }
        for id in ["01-m/02-l", "hotmart/..%2Fx", "m/ñandú", "m/.hidden", "m/a..b"] {
            #expect(Item(id: id, metadata: [:], artifacts: [:]).idProblem == nil, "\(id)")
        }
    }
}
