import AcervoFakeServers
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// The dashboard's Media page and `/api/media`: every page of a Hotmart catalog with where its video is, read
/// from the hosts (fakes here) without fetching a video.
@Suite(.serialized) struct MediaPageTests {
    @Test func `the Media page shows each page matched, ambiguous or unmatched in words, at desktop and phone width`() async throws {
        try Browser.check()
        let hotmart = try await FakeHotmart.start()
        let vimeo = try await FakeVimeo.start()
        let directory = TemporaryFolder()
        let project = TinyProject(rootOverride: directory.path)
        try FileManager.default.createDirectory(atPath: project.rules, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.path + "/originals/Fundamentos", withIntermediateDirectories: true)
        let video = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/examples/course/01-fundamentos/02-variables/02-variables.mp4"))
        try video.write(to: URL(fileURLWithPath: directory.path + "/originals/Fundamentos/03 - Funciones.mp4"))
        hotmart.setCatalog([.init("m1", "Fundamentos", sequence: 1, lessons: [
            .init("p1", "Introducción", sequence: 1), .init("p2", "Variables y tipos", sequence: 2), .init("p3", "Funciones", sequence: 3),
            .init("p4", "Resumen", sequence: 4), .init("p5", "Aula bônus", sequence: 5),
        ])])
        for (id, name) in [("11", "Aula 1 - Introduccion"), ("12", "02 Variables y tipos"), ("21", "Resumen"), ("22", "Resumen")] {
            vimeo.put(.init(id: id, name: name, folder: "777", folderName: "Curso", duration: 7, renditions: [720: Array(video)]))
        }
        try """
            source:
              kind: hotmart
              subdomain: curso-python
              course: Python desde cero
              media: [{ kind: vimeo, folder: "777" }, { kind: folder, path: originals }]
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            sink: { kind: local, document: document }
            """.write(toFile: project.rules + "/pipeline.yaml", atomically: true, encoding: .utf8)
        let running = try await RunningService.start(project, variables: [
            "HOTMART_CLIENT_ID": hotmart.clientID, "HOTMART_CLIENT_SECRET": hotmart.clientSecret,
            "ACERVO_HOTMART_AUTH_URL": hotmart.baseURL, "ACERVO_HOTMART_API_URL": hotmart.baseURL,
            "VIMEO_TOKEN": vimeo.token, "ACERVO_VIMEO_URL": vimeo.baseURL, "ACERVO_RETRY_BASE_SECONDS": "0.01",
        ])
        let base = running.baseURL
        let dom = try await Browser.dom(base + "/media")
        #expect(dom.contains("<title>Media · Acervo</title>"))
        #expect(dom.contains("3 matched, 1 ambiguous, 1 unmatched"), "\(dom)")
        #expect(dom.contains("Aula 1 - Introduccion (11)") && dom.contains("(vimeo, by title, 1.00)"))
        #expect(dom.contains("Fundamentos/03 - Funciones.mp4") && dom.contains("(folder, by title+module, 1.00)"), "\(dom)")
        #expect(dom.contains("Ambiguous:</span> Resumen (21) · Resumen (22)"), "\(dom)")
        #expect(dom.contains("Unmatched:</span> Vimeo: no video's title is close to “Aula bônus”"), "\(dom)")
        #expect(dom.contains("<a href=\"/lesson?item=hotmart%2Fp5\">"))
        #expect(dom.contains("<a href=\"/media\">Media</a>"), "the page is in the header")
        #expect(!dom.contains(vimeo.token) && !dom.contains("{&quot;") && !dom.contains("{\""), "no secret, no raw JSON")
        #expect(vimeo.totalCDNBytes == 0, "the page fetched video")

        let api = try await request(.GET, base + "/api/media")
        let rows = try #require(((try api.json() as? [String: Any])?["sources"] as? [[String: Any]])?.first?["rows"] as? [[String: Any]])
        #expect(rows.map { $0["status"] as? String } == ["matched", "matched", "matched", "ambiguous", "unmatched"])

        let shots = ProcessInfo.processInfo.environment["ACERVO_SCREENSHOTS"] ?? directory.path
        for (suffix, width) in [("phone", 390), ("desktop", 1200)] {
            let file = shots + "/media-\(suffix).png"
            try await Browser.screenshot(base + "/media", to: file, width: width, height: suffix == "phone" ? 1400 : 900)
            let bytes = try #require(FileManager.default.contents(atPath: file))
            #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && bytes.count > 10_000, "\(file)")
        }
        try await running.stop()
        await hotmart.stop()
        await vimeo.stop()
    }
}
