import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation

/// A JSON manifest written by hand or by `acervo media --write-manifest`: page id → `video`, `captions`,
/// `materials`. A file is a URL (`{url, sha256?, size?, name?}`), a Vimeo video (`{vimeo: ID}`), a Panda
/// Video video (`{panda: ID}`), an HLS playlist (`{hls: URL}`) or a file on this machine (`{file: PATH}`,
/// relative to the project folder).
struct ManifestResolver: MediaResolver {
    struct File: Sendable, Equatable, Decodable {
        var url: String?
        var sha256: String?
        var size: Int64?
        var name: String?
        var vimeo: String?
        var panda: String?
        var hls: String?
        var file: String?

        enum CodingKeys: String, CodingKey { case url, sha256, size, name, vimeo, panda, hls, file }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            sha256 = try container.decodeIfPresent(String.self, forKey: .sha256)
            size = try container.decodeIfPresent(Int64.self, forKey: .size)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            // A Vimeo id is written as a number as often as as text.
            if let number = try? container.decodeIfPresent(Int64.self, forKey: .vimeo) { vimeo = String(number) } else {
                vimeo = try container.decodeIfPresent(String.self, forKey: .vimeo)
            }
            panda = try container.decodeIfPresent(String.self, forKey: .panda)
            hls = try container.decodeIfPresent(String.self, forKey: .hls)
            file = try container.decodeIfPresent(String.self, forKey: .file)
            if [url, vimeo, panda, hls, file].compactMap({ $0 }).count != 1 {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "a file needs exactly one of `url`, `vimeo`, `panda`, `hls`, `file`"))
            }
        }
    }

    struct Lesson: Sendable, Equatable, Decodable {
        var video: File?
        var captions: File?
        var materials: [File]?
    }

    let path: String
    let lessons: [String: Lesson]
    let context: ConnectorContext
    let projectDirectory: String
    /// The Vimeo token's variable and the height wanted, for `{vimeo: ID}` entries; Panda's key for `{panda: ID}`.
    let vimeo: VimeoSettings
    let panda: PandaSettings

    init(path manifest: String, projectDirectory: String, context: ConnectorContext, vimeo: VimeoSettings, panda: PandaSettings) throws(SourceError) {
        let path = manifest.hasPrefix("/") ? manifest : projectDirectory + "/" + manifest
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SourceError("the media manifest `\(manifest)` cannot be read; check `source.media`")
        }
        do { lessons = try JSONDecoder().decode([String: Lesson].self, from: data) } catch {
            throw SourceError("the media manifest `\(manifest)` is not `{page_id: {video: {url | vimeo | panda | hls | file}, captions?, materials?}}`: "
                              + Self.describe(error))
        }
        self.path = manifest
        self.context = context
        self.projectDirectory = projectDirectory
        self.vimeo = vimeo
        self.panda = panda
    }

    var kind: String { "manifest" }

    func resolve(_ page: CatalogPage) async throws -> MediaResolution {
        guard let lesson = lessons[page.pageID] else { return .notFound(reason: "the manifest `\(path)` does not list page \(page.pageID)") }
        var media = LessonMedia()
        if let id = lesson.video?.vimeo {
            // A Vimeo video brings its captions along unless the manifest names others.
            let client = try VimeoClient(context: context, tokenVariable: vimeo.tokenVariable)
            media = VimeoResolver.media(try await client.video(id: id), client: client, minimumHeight: vimeo.minimumHeight)
        } else if let video = lesson.video {
            media.video = try await remote(video, role: "video")
        }
        if let captions = lesson.captions { media.captions = try await remote(captions, role: "captions") }
        for (index, file) in (lesson.materials ?? []).enumerated() { media.materials.append(try await remote(file, role: "material-\(index + 1)")) }
        return .found(media, match: .matched(candidate: path, how: "manifest", score: 1))
    }

    private func remote(_ file: File, role: String) async throws -> RemoteFile {
        if let id = file.vimeo {
            let client = try VimeoClient(context: context, tokenVariable: vimeo.tokenVariable)
            // The video's last change is its marker: one small request a night, no download when unchanged.
            return VimeoResolver.file(try await client.video(id: id), client: client, minimumHeight: vimeo.minimumHeight)
        }
        if let id = file.panda {
            let client = try PandaClient(context: context, keyVariable: panda.keyVariable)
            return PandaResolver.file(try await client.video(id: id), client: client, minimumHeight: panda.minimumHeight)
        }
        if let hls = file.hls {
            return RemoteFile(name: file.name ?? "the lesson's HLS stream", fetch: .hls(playlist: { hls }, minimumHeight: vimeo.minimumHeight),
                              markerKey: "hls:" + HLSStream.withoutQuery(hls), reference: ["hls": hls])
        }
        if let local = file.file {
            let path = local.hasPrefix("/") ? local : projectDirectory + "/" + local
            return FolderResolver.file(at: path, name: file.name, projectDirectory: projectDirectory)
        }
        let url = file.url ?? ""
        let expected = try file.sha256.map { try Digest(parsing: $0.hasPrefix("sha256:") ? $0 : "sha256:" + $0) }
        return RemoteFile(name: file.name ?? Self.shownName(url) ?? role, fetch: .http(url: url, expectedDigest: expected, expectedSize: file.size),
                          reference: ["url": url])
    }

    /// The last part of a URL's path (never its query, which may hold a signed token).
    static func shownName(_ url: String) -> String? {
        URLComponents(string: url)?.path.split(separator: "/").last.map { $0.removingPercentEncoding ?? String($0) }
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "at `\(path)`: ") + context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}

/// URL templates with `{page_id}` and `{module_id}`: every page has files there.
struct TemplateResolver: MediaResolver {
    let videoURL: String?
    let captionsURL: String?

    var kind: String { "template" }

    func resolve(_ page: CatalogPage) async throws -> MediaResolution {
        let file = { (template: String, role: String) -> RemoteFile in
            let url = fillTemplate(template, page: page)
            return RemoteFile(name: ManifestResolver.shownName(url) ?? role, fetch: .http(url: url, expectedDigest: nil, expectedSize: nil),
                              reference: ["url": url])
        }
        return .found(LessonMedia(video: videoURL.map { file($0, "video") }, captions: captionsURL.map { file($0, "captions") }),
                      match: .matched(candidate: videoURL ?? captionsURL ?? "", how: "template", score: 1))
    }
}
