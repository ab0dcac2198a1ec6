import AcervoConnectors
import AcervoFakeServers
import AcervoStore
import AcervoTestSupport
import Foundation
import Synchronization
import Testing
@testable import AcervoApp
@testable import AcervoSources

/// A Hotmart catalog whose lessons' videos are on Vimeo, on Panda Video (AES-128 HLS) and in a folder of
/// originals, with no manifest: every video is found by id or title, fetched (the real ffmpeg remuxes the
/// streams), kept fresh, and never fetched twice — through the `acervo` binary, every host a strict fake.
@Suite(.serialized) struct MediaHostsTests {
    /// The example course's five slide videos (OCR reads their text): the lessons below reuse them.
    static let videos = ["01-fundamentos/01-introduccion/01-introduccion", "01-fundamentos/02-variables/02-variables",
                         "01-fundamentos/03-funciones/03-funciones", "02-dados-em-python/01-listas/01-listas",
                         "02-dados-em-python/02-arquivos-csv/02-arquivos-csv"].map { repositoryRoot + "/examples/course/" + $0 + ".mp4" }

    struct Lesson {
        var pageID: String
        var title: String
        var module: Int
        var host: String
        /// The name the host gives the video (numbering, no accents, a file name).
        var hosted: String
        var video: Int
        var description = ""
    }

    static let lessons: [Lesson] = [
        Lesson(pageID: "p01", title: "Introducción e instalación", module: 1, host: "vimeo", hosted: "Aula 01 - Introduccion e instalacion", video: 0),
        Lesson(pageID: "p02", title: "Variables y tipos de datos", module: 1, host: "vimeo", hosted: "02. Variables y tipos de datos", video: 1),
        Lesson(pageID: "p03", title: "Funciones: def y return", module: 1, host: "vimeo", hosted: "Aula 3 – Funciones def y return", video: 2),
        Lesson(pageID: "p04", title: "Listas em Python", module: 1, host: "vimeo", hosted: "Gravação 2026-10-02 (final)", video: 3,
               description: "Aula do curso. page: p04"),
        Lesson(pageID: "p05", title: "Lendo arquivos CSV", module: 1, host: "panda", hosted: "Lendo arquivos CSV", video: 4),
        Lesson(pageID: "p06", title: "Instalação do Python", module: 1, host: "panda", hosted: "Aula 06 - Instalacao do Python", video: 0),
        Lesson(pageID: "p07", title: "Tipos numéricos", module: 2, host: "panda", hosted: "Tipos numericos", video: 1),
        Lesson(pageID: "p08", title: "Escrevendo funções", module: 2, host: "panda", hosted: "AULA 8: Escrevendo Funções", video: 2),
        Lesson(pageID: "p09", title: "Listas y tuplas", module: 2, host: "folder", hosted: "Dados em Python/09 - Listas y tuplas.mp4", video: 3),
        Lesson(pageID: "p10", title: "Archivos CSV", module: 2, host: "folder", hosted: "Dados em Python/10 - Archivos CSV.mp4", video: 4),
        Lesson(pageID: "p11", title: "Bienvenida al módulo", module: 2, host: "folder", hosted: "Dados em Python/Bienvenida al modulo.mp4", video: 0),
        Lesson(pageID: "p12", title: "Repaso final", module: 2, host: "folder", hosted: "Dados em Python/12 Repaso final.mp4", video: 1),
    ]
    static let modules = ["Fundamentos", "Dados em Python"]

    final class World: Sendable {
        let directory = TemporaryDirectory("acervo-hosts")
        let hotmart: FakeHotmart
        let vimeo: FakeVimeo
        let panda: FakePanda
        let videoBytes: [[UInt8]]
        var project: String { directory.path + "/project" }

        init() async throws {
            hotmart = try await FakeHotmart.start()
            vimeo = try await FakeVimeo.start()
            panda = try await FakePanda.start()
            videoBytes = try MediaHostsTests.videos.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
            let files = FileManager.default
            try files.createDirectory(atPath: project + "/rules", withIntermediateDirectories: true)
            try files.copyItem(atPath: repositoryRoot + "/rules/prices.yaml", toPath: project + "/rules/prices.yaml")

            var modules: [FakeHotmart.Module] = []
            for (index, name) in MediaHostsTests.modules.enumerated() {
                let pages = MediaHostsTests.lessons.filter { $0.module == index + 1 }
                modules.append(.init("m\(index + 1)", name, sequence: index + 1,
                                     lessons: pages.enumerated().map { .init($0.element.pageID, $0.element.title, sequence: $0.offset + 1) }))
            }
            hotmart.setCatalog(modules)

            var streams: [Int: FakePanda.Stream] = [:]
            for lesson in MediaHostsTests.lessons {
                let bytes = videoBytes[lesson.video]
                switch lesson.host {
                case "vimeo":
                    // 360p and 1080p are other videos: a wrong choice of rendition shows in the documents.
                    vimeo.put(.init(id: "9\(lesson.pageID.dropFirst())", name: lesson.hosted, description: lesson.description, folder: "777",
                                    folderName: "Curso Python", duration: 7,
                                    renditions: [360: videoBytes[(lesson.video + 1) % 5], 720: bytes, 1080: videoBytes[(lesson.video + 2) % 5]]))
                case "panda":
                    if streams[lesson.video] == nil { streams[lesson.video] = try Self.stream(MediaHostsTests.videos[lesson.video], in: directory.path) }
                    panda.put(.init(id: "pv-\(lesson.pageID)", title: lesson.hosted, folderID: "f-python", folderName: "Python", length: 7,
                                    stream: streams[lesson.video]!))
                default:
                    let path = project + "/originals/" + lesson.hosted
                    try files.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try files.copyItem(atPath: MediaHostsTests.videos[lesson.video], toPath: path)
                }
            }
            // Another project's videos in the same accounts are not candidates: the folders say whose they are.
            vimeo.put(.init(id: "555", name: "Introduccion e instalacion", folder: "888", folderName: "Outro curso", duration: 5, renditions: [720: videoBytes[4]]))
            try """
                source:
                  kind: hotmart
                  subdomain: curso-python
                  course: Python desde cero
                  media:
                    - { kind: vimeo, folder: "777" }
                    - { kind: panda, folder: f-python }
                    - { kind: folder, path: originals }
                rules:
                  frames: { processor: ffmpeg.keyframes@1, input: video, params: { scene: 0.02, max: 40 } }
                  ocr: { processor: tesseract@1, input: frames, params: { languages: [spa, por, eng] } }
                  document: { processor: document.markdown@1, inputs: { meta: metadata, ocr: ocr } }
                sink: { kind: local, document: document }
                """.write(toFile: project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        }

        func close() async {
            await hotmart.stop()
            await vimeo.stop()
            await panda.stop()
        }

        /// The video as ffmpeg's HLS muxer cuts it: TS segments at its keyframes, AES-128 with a random key.
        static func stream(_ video: String, in directory: String) throws -> FakePanda.Stream {
            let folder = directory + "/hls-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let key = (0..<16).map { _ in UInt8.random(in: 0...255) }
            try Data(key).write(to: URL(fileURLWithPath: folder + "/key.bin"))
            try "key.bin\n\(folder)/key.bin\n".write(toFile: folder + "/keyinfo", atomically: true, encoding: .utf8)
            let outcome = try run("/usr/bin/env", ["ffmpeg", "-nostdin", "-v", "error", "-i", video, "-c", "copy", "-f", "hls", "-hls_time", "1",
                                                  "-hls_playlist_type", "vod", "-hls_key_info_file", folder + "/keyinfo",
                                                  "-hls_segment_filename", folder + "/seg%d.ts", folder + "/index.m3u8"])
            #expect(outcome.status == 0, "ffmpeg is needed (scripts/setup installs it): \(outcome.stderr)")
            var segments: [String: [UInt8]] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".ts") {
                segments[name] = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
            }
            #expect(segments.count >= 2, "the stream should have several segments")
            return FakePanda.Stream(playlist: try String(contentsOfFile: folder + "/index.m3u8", encoding: .utf8), segments: segments, key: key)
        }

        var environment: [String: String?] {
            ["HOTMART_CLIENT_ID": hotmart.clientID, "HOTMART_CLIENT_SECRET": hotmart.clientSecret,
             "ACERVO_HOTMART_AUTH_URL": hotmart.baseURL, "ACERVO_HOTMART_API_URL": hotmart.baseURL,
             "VIMEO_TOKEN": vimeo.token, "ACERVO_VIMEO_URL": vimeo.baseURL, "PANDA_API_KEY": panda.key, "ACERVO_PANDA_URL": panda.baseURL,
             "ACERVO_RETRY_ATTEMPTS": "4", "ACERVO_RETRY_BASE_SECONDS": "0.01"]
        }

        struct Output: Decodable {
            struct Failure: Decodable {
                var item: String
                var rule: String
                var error: String
            }
            var executed: Int
            var hits: Int
            var failed: Int
            var failures: [Failure]
            var snapshot: String?
            struct Warning: Decodable { var message: String }
            var warningList: [Warning]
            var warnings: [String] { warningList.map(\.message) }
            enum CodingKeys: String, CodingKey {
                case executed, hits, failed, failures, snapshot
                case warningList = "warnings"
            }
        }

        func build(expecting status: Int32 = 0, in directory: String? = nil) async throws -> (output: Output?, stderr: String) {
            let outcome = try await acervoOffPool(["build", "--json"], in: directory ?? project, environment: environment)
            #expect(outcome.status == status, "\(outcome.stderr)\n\(outcome.stdout)")
            for secret in [hotmart.clientSecret, vimeo.token, panda.key] {
                #expect(!outcome.stderr.contains(secret) && !outcome.stdout.contains(secret), "a secret in the output")
            }
            return (try? decodeJSON(Output.self, outcome.stdout), outcome.stderr)
        }

        /// Title → the document's text below its front matter, from the latest snapshot.
        func documents(in directory: String? = nil) throws -> [String: String] {
            let folder = self.directory.path + "/export-\(UUID().uuidString.prefix(6))"
            let outcome = try acervo(["kb", "export", "latest", folder], in: directory ?? project)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            var documents: [String: String] = [:]
            for case let file as String in FileManager.default.enumerator(atPath: folder) ?? .init() where file.hasSuffix(".md") {
                let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
                let body = text.components(separatedBy: "\n---\n").dropFirst().joined(separator: "\n---\n")
                let title = body.split(separator: "\n").first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) } ?? file
                documents[title] = body
            }
            return documents
        }
    }

    /// The same twelve lessons as a local course folder: modules and lessons named alike, the same video files.
    static func localCourse(in world: World) throws -> String {
        let project = world.directory.path + "/local"
        let files = FileManager.default
        try files.createDirectory(atPath: project + "/rules", withIntermediateDirectories: true)
        try files.copyItem(atPath: repositoryRoot + "/rules/prices.yaml", toPath: project + "/rules/prices.yaml")
        try files.createDirectory(atPath: project + "/course", withIntermediateDirectories: true)
        try "name: Python desde cero\n".write(toFile: project + "/course/course.yaml", atomically: true, encoding: .utf8)
        for (index, lesson) in lessons.enumerated() {
            let folder = project + "/course/0\(lesson.module)-modulo/\(String(format: "%02d", index + 1))-\(lesson.pageID)"
            try files.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try files.copyItem(atPath: videos[lesson.video], toPath: folder + "/video.mp4")
            try "title: \"\(lesson.title)\"\n".write(toFile: folder + "/lesson.yaml", atomically: true, encoding: .utf8)
        }
        let pipeline = try String(contentsOfFile: world.project + "/rules/pipeline.yaml", encoding: .utf8)
        let rules = pipeline.components(separatedBy: "rules:\n").dropFirst().joined(separator: "rules:\n")
        try ("source: { kind: local, path: course }\nrules:\n" + rules).write(toFile: project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        return project
    }

    @Test func `twelve lessons on Vimeo, Panda and a folder build like the same course from a folder; a second night fetches nothing`() async throws {
        let world = try await World()
        // Faults a night meets: a link expiring half-way through a Vimeo download, a segment answering 503 once,
        // a Panda token expiring after the first segment.
        world.vimeo.expireMidDownload("902")
        world.panda.failOnce("seg1.ts")
        world.panda.expireToken(of: "pv-p07", afterSegments: 1)

        let first = try #require(try await world.build().output)
        #expect(first.failed == 0, "\(first.failures.map { "\($0.item) \($0.rule): \($0.error)" })")
        // Lessons that share a video share its frames and OCR. A remuxed stream is other bytes than its original
        // (frames run again: 5 + 4 streams) but the same pictures (the frames are equal, so OCR is not run
        // again): 12 documents, 9 frames, 5 OCRs.
        #expect(first.executed == 26 && first.hits == 10, "\(first.executed) executed, \(first.hits) hits")
        #expect(world.vimeo.violations.isEmpty && world.panda.violations.isEmpty && world.hotmart.violations.isEmpty,
                "\(world.vimeo.violations + world.panda.violations + world.hotmart.violations)")
        // The expired link was asked for again and the download resumed where it stopped.
        let size = world.videoBytes[1].count
        #expect(world.vimeo.rangeRequests >= 1)
        #expect(Double(world.vimeo.cdnBytes["902"] ?? 0) < 1.2 * Double(size), "\(world.vimeo.cdnBytes["902"] ?? 0) bytes for a \(size)-byte file")
        #expect(world.vimeo.cdnBytes["555"] == nil, "another folder's video was fetched")
        // The 720p variant of every stream: the smallest at least 720 tall.
        #expect(Set(world.panda.variantsFetched) == [720], "\(world.panda.variantsFetched)")

        let hosted = try world.documents()
        #expect(hosted.count == 12, "\(hosted.keys.sorted())")
        let local = try Self.localCourse(in: world)
        let localBuild = try #require(try await world.build(in: local).output)
        #expect(localBuild.failed == 0)
        let fromFolder = try world.documents(in: local)
        for lesson in Self.lessons {
            #expect(hosted[lesson.title] != nil, "no document for \(lesson.title)")
            #expect(hosted[lesson.title] == fromFolder[lesson.title], "\(lesson.title) differs from the same lesson given as a folder")
        }
        #expect(fromFolder.values.contains { $0.contains("On-screen text") }, "OCR read nothing: the comparison would prove little")

        // The second night: every marker unchanged, so no video byte moves and nothing runs.
        world.vimeo.resetCounts()
        world.panda.resetCounts()
        let second = try #require(try await world.build().output)
        #expect(second.executed == 0 && second.failed == 0)
        #expect(world.vimeo.totalCDNBytes == 0, "\(world.vimeo.cdnBytes)")
        #expect(world.panda.totalSegmentBytes == 0, "\(world.panda.segmentBytes)")

        // A replaced Vimeo video: fetched again, and only its lesson's chain runs — its new video is p04's, whose
        // frames and text are already in the store, so only its document is made again.
        world.vimeo.put(.init(id: "903", name: "Aula 3 – Funciones def y return", folder: "777", folderName: "Curso Python", duration: 7,
                              modifiedTime: "2026-12-07T22:00:00+00:00", renditions: [720: world.videoBytes[3]]))
        world.vimeo.resetCounts()
        let third = try #require(try await world.build().output)
        #expect(third.executed == 1 && third.hits == 35 && third.failed == 0, "\(third.executed) executed, \(third.hits) hits")
        #expect(world.vimeo.cdnBytes == ["903": world.videoBytes[3].count])
        #expect(world.panda.totalSegmentBytes == 0)

        // A video deleted from Vimeo is a removed input: its lesson fails, saying so, and keeps its document.
        let kept = try world.documents()
        world.vimeo.remove("904")
        let removed = try #require(try await world.build(expecting: 1).output)
        #expect(removed.failures.map(\.item) == ["hotmart/p04"] && removed.failures.first?.error.hasPrefix("its video was not found: ") == true,
                "\(removed.failures.map(\.error))")
        #expect(try world.documents() == kept)
        world.vimeo.put(.init(id: "904", name: "Gravação 2026-10-02 (final)", description: "Aula do curso. page: p04", folder: "777",
                              folderName: "Curso Python", duration: 7, renditions: [720: world.videoBytes[3]]))

                // The Club API answering 200 with an empty body for one module (every retry), then an empty page list
        // for the other while it still counts its pages: each time that module's lessons fail and keep their
        // documents, and nothing else changes.
        let before = try world.documents()
        world.hotmart.answerEmpty(4)
        let empty = try #require(try await world.build(expecting: 1).output)
        #expect(empty.failures.map(\.item).sorted() == ["hotmart/p01", "hotmart/p02", "hotmart/p03", "hotmart/p04", "hotmart/p05", "hotmart/p06"],
                "\(empty.failures.map { "\($0.item): \($0.error)" })")
        #expect(empty.failures.first?.error.contains("its module “Fundamentos” could not be listed tonight, so it keeps its document") == true)
        #expect(empty.failures.first?.error.contains("an empty body instead of JSON") == true, "\(empty.failures.first?.error ?? "")")
        #expect(try world.documents() == before)
        world.hotmart.answerNoPages(for: "m2")
        let none = try #require(try await world.build(expecting: 1).output)
        #expect(none.failures.map(\.item).sorted() == ["hotmart/p07", "hotmart/p08", "hotmart/p09", "hotmart/p10", "hotmart/p11", "hotmart/p12"])
        #expect(none.failures.first?.error.contains("Hotmart listed no page for the module “Dados em Python”, which has 6") == true,
                "\(none.failures.first?.error ?? "")")
        #expect(try world.documents() == before)
        await world.close()
    }

    @Test func `acervo media names the ambiguous and the unmatched page, writes a manifest of the rest; the build fails only those two`() async throws {
        let world = try await World()
        // Two uploads of the same recording: nothing tells which is the lesson's. A bonus lesson nobody uploaded.
        // A notice with no video, which is not a lesson.
        for id in ["7001", "7002"] {
            world.vimeo.put(.init(id: id, name: "Resumo do módulo", folder: "777", folderName: "Curso Python", duration: 7, renditions: [720: world.videoBytes[0]]))
        }
        var modules = MediaHostsTests.modules.enumerated().map { index, name in
            FakeHotmart.Module("m\(index + 1)", name, sequence: index + 1, lessons: MediaHostsTests.lessons.filter { $0.module == index + 1 }
                .enumerated().map { .init($0.element.pageID, $0.element.title, sequence: $0.offset + 1) })
        }
        modules[1].lessons += [.init("p13", "Resumo do módulo", sequence: 7), .init("p14", "Aula bônus: decoradores", sequence: 8),
                               .init("p15", "Aviso: grupo no Telegram", sequence: 9, type: "ADVERTISEMENT", hasMedia: false)]
        world.hotmart.setCatalog(modules)

        let table = try await acervoOffPool(["media"], in: world.project, environment: world.environment)
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        let p13 = try #require(lines.first { $0.contains("p13") })
        #expect(p13.contains("AMBIGUOUS") && p13.contains("(7001)") && p13.contains("(7002)"), "\(p13)")
        let p14 = try #require(lines.first { $0.contains("p14") })
        #expect(p14.contains("UNMATCHED") && p14.contains("no video's title is close to “Aula bônus: decoradores”"), "\(p14)")
        #expect(lines.first { $0.contains("p15") }?.contains("not a lesson") == true)
        #expect(lines.first { $0.contains("p04") }?.contains("(vimeo, by id 1.00)") == true, "\(table.stdout)")
        #expect(lines.first { $0.contains("p03") }?.contains("← Aula 3 – Funciones def y return (903) (vimeo, by title") == true, "\(table.stdout)")
        #expect(table.stdout.contains("12 matched, 1 ambiguous, 1 unmatched, 1 not lessons"), "\(table.stdout)")
        #expect(world.vimeo.totalCDNBytes == 0 && world.panda.totalSegmentBytes == 0, "acervo media fetched video")

        let json = try await acervoOffPool(["media", "--json", "--write-manifest", "found.json"], in: world.project, environment: world.environment)
        #expect(json.status == 0, "\(json.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let rows = try #require((report["sources"] as? [[String: Any]])?.first?["rows"] as? [[String: Any]])
        #expect(rows.count == 15)
        #expect(rows.first { $0["pageID"] as? String == "p13" }?["candidates"] as? [String] == ["Resumo do módulo (7001)", "Resumo do módulo (7002)"])
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: world.project + "/found.json"))) as? [String: [String: [String: String]]])
        #expect(manifest.count == 12)
        #expect(manifest["p01"]?["video"] == ["vimeo": "901"])
        #expect(manifest["p05"]?["video"] == ["panda": "pv-p05"])
        #expect(manifest["p09"]?["video"] == ["file": "originals/Dados em Python/09 - Listas y tuplas.mp4"])

        let build = try await world.build(expecting: 1)
        let output = try #require(build.output)
        #expect(output.failures.map(\.item).sorted() == ["hotmart/p13", "hotmart/p14"], "\(output.failures.map { "\($0.item): \($0.error)" })")
        #expect(output.failures.allSatisfy { $0.rule == "detect" && $0.error.hasPrefix("its video was not found: ") })
        #expect(output.warnings.contains { $0.contains("1 page is not a lesson") && $0.contains("“Aviso: grupo no Telegram” (ADVERTISEMENT)") },
                "\(output.warnings)")
        #expect(try world.documents().count == 12)

        // The manifest first, a person's choice written into it: the ambiguous page builds from it.
        var fixed = manifest
        fixed["p13"] = ["video": ["vimeo": "7002"]]
        try JSONSerialization.data(withJSONObject: fixed).write(to: URL(fileURLWithPath: world.project + "/found.json"))
        let pipeline = try String(contentsOfFile: world.project + "/rules/pipeline.yaml", encoding: .utf8)
        try pipeline.replacingOccurrences(of: "    - { kind: vimeo, folder: \"777\" }", with: "    - { kind: manifest, path: found.json }\n    - { kind: vimeo, folder: \"777\" }")
            .write(toFile: world.project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let pinned = try #require(try await world.build(expecting: 1).output)
        #expect(pinned.failures.map(\.item) == ["hotmart/p14"])
        await world.close()
    }

    @Test func `two Hotmart products and a course folder make one knowledge base of three courses; a product whose API fails keeps its lessons`() async throws {
        let directory = TemporaryDirectory("acervo-academy")
        let hotmart = try await FakeHotmart.start()
        let project = directory.path + "/project"
        let files = FileManager.default
        try files.createDirectory(atPath: project + "/rules", withIntermediateDirectories: true)
        try files.copyItem(atPath: repositoryRoot + "/rules/prices.yaml", toPath: project + "/rules/prices.yaml")
        // Both clubs number their pages alike: the ids must still be two lessons.
        for (club, titles) in [("curso-python", ["Introducción e instalación", "Variables y tipos de datos"]), ("curso-dados", ["Listas em Python", "Lendo arquivos CSV"])] {
            hotmart.setCatalog([.init("m1", "Módulo 1", sequence: 1, lessons: titles.enumerated().map { .init("p\($0.offset + 1)", $0.element, sequence: $0.offset + 1) })],
                               subdomain: club)
            for (index, title) in titles.enumerated() {
                try files.createDirectory(atPath: project + "/\(club)-videos", withIntermediateDirectories: true)
                try files.copyItem(atPath: Self.videos[club == "curso-python" ? index : index + 3], toPath: project + "/\(club)-videos/\(title).mp4")
            }
        }
        for (index, lesson) in ["01-bienvenida", "02-repaso"].enumerated() {
            try files.createDirectory(atPath: project + "/taller/01-modulo/\(lesson)", withIntermediateDirectories: true)
            try files.copyItem(atPath: Self.videos[index], toPath: project + "/taller/01-modulo/\(lesson)/video.mp4")
        }
        try "name: Taller de Python\n".write(toFile: project + "/taller/course.yaml", atomically: true, encoding: .utf8)
        try """
            sources:
              - { kind: hotmart, subdomain: curso-python, course: Python desde cero, school: tecnologia, media: [{ kind: folder, path: curso-python-videos }] }
              - { kind: hotmart, subdomain: curso-dados, course: Análise de dados, school: dados, media: [{ kind: folder, path: curso-dados-videos }],
                  product_id: "4242", pages_path: "/club/api/v2/modules/{module_id}/pages?product_id={product_id}" }
              - { kind: local, path: taller }
            rules:
              media: { processor: ffprobe@1, input: video }
              document: { processor: document.markdown@1, inputs: { meta: metadata, media: media } }
            sink: { kind: local, document: document }
            """.write(toFile: project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let environment: [String: String?] = ["HOTMART_CLIENT_ID": hotmart.clientID, "HOTMART_CLIENT_SECRET": hotmart.clientSecret,
                                              "ACERVO_HOTMART_AUTH_URL": hotmart.baseURL, "ACERVO_HOTMART_API_URL": hotmart.baseURL,
                                              "ACERVO_RETRY_ATTEMPTS": "2", "ACERVO_RETRY_BASE_SECONDS": "0.01"]
        let first = try await acervoOffPool(["build", "--json"], in: project, environment: environment)
        #expect(first.status == 0, "\(first.stderr)\n\(first.stdout)")
        #expect(hotmart.calls["GET v2 /modules/{id}/pages"] == 1 && hotmart.violations.isEmpty, "\(hotmart.calls) \(hotmart.violations)")
        let shown = try acervo(["kb", "show", "--json"], in: project)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        let documents = try #require(entries["entries"] as? [[String: Any]] ?? entries["documents"] as? [[String: Any]], "\(shown.stdout.prefix(600))")
        let ids = documents.compactMap { $0["itemID"] as? String ?? $0["item"] as? String }.sorted()
        #expect(ids == ["01-modulo/01-bienvenida", "01-modulo/02-repaso", "hotmart/curso-dados/p1", "hotmart/curso-dados/p2",
                        "hotmart/curso-python/p1", "hotmart/curso-python/p2"], "\(ids)")
        let courses = Set(documents.compactMap { ($0["attributes"] as? [String: Any])?["course"] as? String })
        #expect(courses == ["Python desde cero", "Análise de dados", "Taller de Python"], "\(shown.stdout.prefix(1500))")
        let before = try acervo(["kb", "export", "latest", directory.path + "/before"], in: project)
        #expect(before.status == 0)

        // One product's API down tonight, a lesson of the folder course renamed: the folder course builds, the
        // product's lessons fail and keep their documents.
        hotmart.setDown("curso-dados")
        try "title: Repaso general\n".write(toFile: project + "/taller/01-modulo/02-repaso/lesson.yaml", atomically: true, encoding: .utf8)
        let night = try await acervoOffPool(["build", "--json"], in: project, environment: environment)
        #expect(night.status == 1, "\(night.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(night.stdout.utf8)) as? [String: Any])
        let failures = (summary["failures"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String }.sorted()
        #expect(failures == ["hotmart/curso-dados/p1", "hotmart/curso-dados/p2"], "\(night.stdout)")
        let error = (summary["failures"] as? [[String: Any]])?.first?["error"] as? String ?? ""
        #expect(error.contains("the source `curso-dados` could not be read") && error.contains("HTTP 500"), "\(error)")
        let after = directory.path + "/after"
        #expect(try acervo(["kb", "export", "latest", after], in: project).status == 0)
        for id in ["hotmart/curso-dados/p1", "hotmart/curso-dados/p2", "hotmart/curso-python/p1"] {
            #expect(try String(contentsOfFile: after + "/\(id).md", encoding: .utf8) == String(contentsOfFile: directory.path + "/before/\(id).md", encoding: .utf8))
        }
        #expect(try String(contentsOfFile: after + "/01-modulo/02-repaso.md", encoding: .utf8).contains("# Repaso general"))
        await hotmart.stop()
    }

    @Test func `a plan on a fresh catalog across the three hosts downloads no video and prices the hosts' durations`() async throws {
        let world = try await World()
        let pipeline = try String(contentsOfFile: world.project + "/rules/pipeline.yaml", encoding: .utf8)
        try (pipeline.components(separatedBy: "rules:\n")[0] + """
            rules:
              audio: { processor: ffmpeg.audio@1, input: video, params: { rate: 16000, channels: 1 } }
              speech: { processor: openai.transcribe@1, input: audio }
              document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: speech } }
            sink: { kind: local, document: document }
            """).write(toFile: world.project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let outcome = try await acervoOffPool(["plan", "--json"], in: world.project, environment: world.environment)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(world.vimeo.totalCDNBytes == 0 && world.panda.totalSegmentBytes == 0, "a plan fetched video: \(world.vimeo.cdnBytes) \(world.panda.segmentBytes)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect(plan["items"] as? Int == 12)
        let speech = (plan["actions"] as? [[String: Any]] ?? []).filter { $0["rule"] as? String == "speech" }
        #expect(speech.count == 12)
        #expect(speech.allSatisfy { $0["estimatedCostUSD"] is Double }, "\(speech.filter { !($0["estimatedCostUSD"] is Double) })")
        // Every lesson is one of the example's videos, 7.2–7.3 s long; Vimeo and Panda say 7 s, the folder's
        // files are probed here. Whisper: $0.006 a minute.
        var seconds = 0.0
        for path in Self.lessons.map({ Self.videos[$0.video] }) {
            let probe = try run("/usr/bin/env", ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path])
            seconds += Double(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let estimated = speech.reduce(0) { $0 + ($1["estimatedCostUSD"] as? Double ?? 0) }
        let actual = seconds / 60 * 0.006
        #expect(abs(estimated - actual) / actual < 0.1, "estimated $\(estimated) for $\(actual) of speech")
        await world.close()
    }

    @Test func `the same HLS stream fetched twice, into two stores, is the same bytes: a remuxed video's digest is stable`() async throws {
        let directory = TemporaryDirectory("acervo-hls-twice")
        let panda = try await FakePanda.start()
        panda.put(.init(id: "pv-1", title: "Listas", folderID: "f", folderName: "Python", length: 7,
                        stream: try World.stream(Self.videos[1], in: directory.path)))
        let context = ConnectorContext(environment: ConnectorEnvironment(["PANDA_API_KEY": panda.key, "ACERVO_PANDA_URL": panda.baseURL]),
                                       retry: RetryPolicy(maxAttempts: 3, baseDelaySeconds: 0.01))
        let client = try PandaClient(context: context, keyVariable: "PANDA_API_KEY")
        let file = PandaResolver.file(try await client.video(id: "pv-1"), client: client, minimumHeight: 720)
        var digests: [Digest] = []
        for index in 0..<2 {
            let store = try await Store.open(at: directory.path + "/store\(index)")
            let fetcher = MediaFetcher(downloader: Downloader(api: APIClient(provider: "media", session: context.downloadSession, retry: context.retry), store: store))
            digests.append(try await fetcher.fetch(file))
            // Fetched once per store: the second ask finds the marker and the bytes.
            let segments = panda.totalSegmentBytes
            #expect(try await fetcher.fetch(file) == digests[index])
            #expect(panda.totalSegmentBytes == segments)
            let probe = try run("/usr/bin/env", ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                                                 try await store.blobs.file(of: digests[index])])
            #expect(probe.stdout.split(separator: "\n") == ["h264", "aac"], "\(probe.stdout)")
        }
        #expect(digests[0] == digests[1])
        await context.shutdown()
        await panda.stop()
    }

    @Test func `a Vimeo token without the video_files scope fails only Vimeo's lessons, saying which scope to add`() async throws {
        let world = try await World()
        world.vimeo.setScopes(["public", "private"])
        let output = try #require(try await world.build(expecting: 1).output)
        #expect(output.failures.map(\.item).sorted() == ["hotmart/p01", "hotmart/p02", "hotmart/p03", "hotmart/p04"])
        for failure in output.failures {
            #expect(failure.error.contains("the token must have the `video_files` scope"), "\(failure.error)")
            #expect(!failure.error.contains(world.vimeo.token))
        }
        #expect(try world.documents().count == 8)
        await world.close()
    }

    @Test func `pages and videos are paired by id, then by titles as people write them; ties are ambiguous, never guessed`() {
        func page(_ id: String, _ title: String, module: String = "Fundamentos") -> CatalogPage {
            CatalogPage(pageID: id, title: title, moduleID: "m", moduleName: module)
        }
        func video(_ id: String, _ name: String, description: String = "", folder: String? = nil) -> MatchCandidate<String> {
            MatchCandidate(id: id, name: name, description: description, folder: folder, video: id)
        }
        let pages = [page("a1", "Introdução ao Python"), page("a2", "Variáveis e tipos"), page("a3", "Listas", module: "Estruturas"),
                     page("a4", "Resumo"), page("a5", "Aula extra: decoradores"), page("Zx9", "Funções")]
        let videos = [video("1", "Aula 01 - Introducao ao python.mp4"), video("2", "02. VARIÁVEIS E TIPOS"),
                      video("3", "Listas", folder: "Estruturas de dados"), video("4", "Listas", folder: "Outro módulo"),
                      video("5", "Resumo"), video("6", "Resumo (cópia)"), video("7", "gravacao final", description: "lesson zx9 of the course")]
        let matches = MediaMatcher(minimumScore: 0.75).match(pages: pages, candidates: videos)
        func outcome(_ id: String) -> MatchOutcome? { matches[id]?.outcome }
        #expect(outcome("a1") == .matched(candidate: "Aula 01 - Introducao ao python.mp4 (1)", how: "title", score: 1))
        #expect(outcome("a2") == .matched(candidate: "02. VARIÁVEIS E TIPOS (2)", how: "title", score: 1))
        // Two videos called alike: the one in the module's folder.
        if case .matched(let candidate, let how, _)? = outcome("a3") {
            #expect(candidate == "Listas (3)" && how == "title+module")
        } else {
            Issue.record("a3: \(String(describing: outcome("a3")))")
        }
        // "Resumo" and "Resumo (cópia)": 1.0 against 0.67 — the exact one; the copy is no rival at 0.75.
        #expect(outcome("a4") == .matched(candidate: "Resumo (5)", how: "title", score: 1))
        if case .unmatched(let reason)? = outcome("a5") {
            #expect(reason.contains("no video's title is close to “Aula extra: decoradores”"), "\(reason)")
        } else {
            Issue.record("a5: \(String(describing: outcome("a5")))")
        }
        // An id written in the description wins over any title, whatever its case.
        #expect(outcome("Zx9") == .matched(candidate: "gravacao final (7)", how: "id", score: 1))

        // Two copies under the same name, nothing to tell them apart: ambiguous, with both named.
        let tied = MediaMatcher(minimumScore: 0.75).match(pages: [page("b1", "Resumo")], candidates: [video("8", "Resumo"), video("9", "resumo")])
        #expect(tied["b1"]?.outcome == .ambiguous(candidates: ["Resumo (8)", "resumo (9)"]))
        #expect(MediaMatcher.normalized("Aula 03 - Variáveis.mp4") == "variaveis")
        #expect(MediaMatcher.normalized("Módulo 2 Aula 1: Introdução") == "introducao")
    }

    @Test func `Vimeo's file: the smallest progressive MP4 at least as tall as asked, else the tallest, else an original`() throws {
        func file(_ height: Int, _ size: Int64, quality: String = "sd", type: String = "video/mp4") -> [String: Any] {
            ["quality": quality, "type": type, "height": height, "width": height * 16 / 9, "size": size, "link": "https://cdn/\(height)"]
        }
        func video(files: [[String: Any]], download: [[String: Any]] = []) throws -> VimeoClient.Video {
            let object: [String: Any] = ["uri": "/videos/1", "files": files, "download": download]
            return try JSONDecoder().decode(VimeoClient.Video.self, from: JSONSerialization.data(withJSONObject: object))
        }
        let renditions = [file(360, 10), file(1080, 90, quality: "hd"), file(720, 40, quality: "hd"), file(0, 5, quality: "hls")]
        #expect(VimeoClient.choose(try video(files: renditions), minimumHeight: 720)?.height == 720)
        #expect(VimeoClient.choose(try video(files: renditions), minimumHeight: 1080)?.height == 1080)
        #expect(VimeoClient.choose(try video(files: [file(360, 10), file(540, 20)]), minimumHeight: 720)?.height == 540, "the tallest when none is tall enough")
        let original = ["quality": "source", "type": "source", "height": 1080, "size": 900, "link": "https://download/original"] as [String: Any]
        #expect(VimeoClient.choose(try video(files: [], download: [original]), minimumHeight: 720)?.link == "https://download/original",
                "an original from `download` when there are no progressive files")
        #expect(VimeoClient.choose(try video(files: []), minimumHeight: 720) == nil)
    }

    @Test func `the media bytes a build fetches are told as they arrive, for the progress line's speed`() async throws {
        let world = try await World()
        let told = Mutex<(bytes: Int64, pieces: Int)>((0, 0))
        var variables: [String: String] = [:]
        for (name, value) in world.environment { variables[name] = value ?? "" }
        let workspace = Workspace(storePath: world.project + "/store", rulesPath: world.project + "/rules", variables: variables, log: { _ in },
                                  mediaBytes: { bytes in told.withLock { $0.bytes += bytes; $0.pieces += 1 } })
        let outcome = try await workspace.build(BuildRequest(jobs: 2, sync: false))
        #expect(outcome.summary.failed == 0)
        let (bytes, pieces) = told.withLock { $0 }
        #expect(bytes == Int64(world.vimeo.totalCDNBytes + world.panda.totalSegmentBytes), "\(bytes) told, \(world.vimeo.totalCDNBytes) + \(world.panda.totalSegmentBytes) sent")
        #expect(pieces >= 4 + 8, "told piece by piece, not once at the end: \(pieces)")
        await world.close()
    }

    @Test func `the media hosts' secrets are known secrets, under their usual names and under the names the pipeline gives them`() async throws {
        let directory = TemporaryDirectory("acervo-media-secrets")
        try FileManager.default.createDirectory(atPath: directory.path + "/rules", withIntermediateDirectories: true)
        try """
            source: { kind: hotmart, subdomain: club, media: [{ kind: vimeo, token: SCHOOL_VIMEO }, { kind: panda }] }
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }
            sink: { kind: local, document: document }
            """.write(toFile: directory.path + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let workspace = Workspace(storePath: directory.path + "/store", rulesPath: directory.path + "/rules",
                                  variables: ["SCHOOL_VIMEO": "vimeo-secret-1", "PANDA_API_KEY": "panda-secret-2", "VIMEO_TOKEN": "vimeo-secret-3"], log: { _ in })
        let known = Set(try workspace.knownSecrets().map(\.value))
        #expect(known.isSuperset(of: ["vimeo-secret-1", "panda-secret-2", "vimeo-secret-3"]), "\(known.count) known")
    }

    @Test func `a Vimeo video's captions come with it: a person's before automatic ones, read by a captions rule, fetched once`() async throws {
        let world = try await World()
        let human = "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nBienvenidos al curso de Python.\n"
        let automatic = "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nbien venidos al curso de pai ton\n"
        for (id, tracks) in [("901", ["es": human, "es-x-autogen": automatic]), ("902", ["es-x-autogen": automatic])] {
            let lesson = try #require(Self.lessons.first { "9" + $0.pageID.dropFirst() == id })
            world.vimeo.put(.init(id: id, name: lesson.hosted, folder: "777", folderName: "Curso Python", duration: 7,
                                  renditions: [720: world.videoBytes[lesson.video]], textTracks: tracks))
        }
        let pipeline = try String(contentsOfFile: world.project + "/rules/pipeline.yaml", encoding: .utf8)
        try (pipeline.components(separatedBy: "rules:\n")[0] + """
            rules:
              transcript: { processor: captions@2, input: captions }
              document: { processor: document.markdown@1, inputs: { meta: metadata, transcript: transcript } }
            sink: { kind: local, document: document }
            """).write(toFile: world.project + "/rules/pipeline.yaml", atomically: true, encoding: .utf8)
        let first = try #require(try await world.build().output)
        #expect(first.failed == 0, "\(first.failures.map(\.error))")
        let documents = try world.documents()
        #expect(documents["Introducción e instalación"]?.contains("Bienvenidos al curso de Python.") == true, "a person's captions first")
        #expect(documents["Introducción e instalación"]?.contains("pai ton") == false)
        #expect(documents["Variables y tipos de datos"]?.contains("bien venidos al curso de pai ton") == true, "automatic ones when there are no others")
        #expect(documents["Funciones: def y return"]?.contains("## Transcript") == false, "no tracks, no transcript")
        #expect(world.vimeo.calls["GET captions"] == 2)
        let second = try #require(try await world.build().output)
        #expect(second.executed == 0 && world.vimeo.calls["GET captions"] == 2, "unchanged captions are not fetched again")
        await world.close()
    }
}
