import AcervoEngine
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoApp

/// Course folders as a hostile or careless user leaves them: each problem fails its own lesson with a message
/// naming the file, the build completes, and nothing from outside the course reaches the knowledge base.
@Suite(.serialized) struct HostileCourseTests {
    @Test func `a material linked outside the course, a FIFO video and a folder name that is not UTF-8 fail their own lessons`() throws {
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

        let outcome = try acervo(["build", "--json"], in: project.path)
        #expect(outcome.status == 1, "\(outcome.stderr)")
        let summary = try decodeJSON(BuildSummary.self, outcome.stdout)
        let failures = Dictionary(grouping: summary.failures, by: \.item).mapValues { $0.map(\.error) }
        #expect(failures["01-fundamentos/02-variables"]?.first?.contains("`notas.txt` \(course)/01-fundamentos/02-variables/notas.txt points outside the course") == true,
                "\(failures)")
        #expect(failures["01-fundamentos/01-introduccion"]?.first?.contains("`01-introduccion.mp4` is a FIFO (named pipe), not a regular file") == true)
        #expect(failures["02-dados-em-python/03-clase\\xE9"]?.first?.contains("the folder name `03-clase\\xE9` is not UTF-8") == true)
        #expect(summary.failures.count == 3)

        let export = project.path + "/export"
        #expect(try acervo(["kb", "export", "latest", export], in: project.path).status == 0)
        let files = (FileManager.default.enumerator(atPath: export)?.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".md") }
        #expect(files.count == 3, "\(files)")
        for name in files {
            #expect(!(try String(contentsOfFile: export + "/" + name, encoding: .utf8)).contains("hunter2"), "\(name)")
        }
    }

    @Test func `a lesson with a 253-byte name is exported like the others`() throws {
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

    @Test func `acervo put refuses a FIFO instead of waiting for a writer`() throws {
        let directory = TemporaryDirectory("acervo-fifo")
        let fifo = directory.path + "/pipe.mp4"
        #expect(mkfifo(fifo, 0o644) == 0)
        let outcome = try acervo(["put", fifo, "--store", directory.path + "/store"])
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("is a FIFO (named pipe), not a regular file"))
    }
}
