import AcervoConnectors
import AcervoRules
import Foundation

/// Lessons on Panda Video: a folder's videos listed once per build and paired with pages by id or title;
/// each fetched from its HLS playlist (asked for right before the download: signed playlists expire). The
/// video's last change and length are its marker.
struct PandaResolver: MediaResolver {
    let client: PandaClient
    let settings: PandaSettings
    private let catalog = MatchedCatalog<PandaClient.Video>()

    init(context: ConnectorContext, settings: PandaSettings) throws(ConnectorError) {
        client = try PandaClient(context: context, keyVariable: settings.keyVariable)
        self.settings = settings
    }

    var kind: String { "panda" }

    func prepare(pages: [CatalogPage]) async throws {
        // Uploads still converting have no playlist yet: they are not candidates tonight.
        let videos = try await client.videos(folder: settings.folder).filter(\.isReady)
        catalog.set(candidates: videos.map { video in
            MatchCandidate(id: video.id, name: video.title ?? "", description: video.description ?? "", folder: video.folderName, video: video)
        }, pages: pages, minimumScore: settings.match.minimumScore)
    }

    func resolve(_ page: CatalogPage) async throws -> MediaResolution {
        catalog.resolution(for: page, host: "Panda Video", unread: "the folder was not read") { candidate in
            LessonMedia(video: Self.file(candidate.video, client: client, minimumHeight: settings.minimumHeight))
        }
    }

    /// A video as a stream to fetch: its playlist is asked for at download time (signed playlists expire).
    static func file(_ video: PandaClient.Video, client: PandaClient, minimumHeight: Int) -> RemoteFile {
        let id = video.id
        let playlist: Downloader.Relink = { () async throws(ConnectorError) -> String in
            guard let url = try await client.video(id: id).videoHLS else {
                throw ConnectorError(.badResponse, provider: "Panda Video", request: "GET /videos/\(id)", message: "the video has no HLS playlist (still converting?)")
            }
            return url
        }
        return RemoteFile(name: video.title.map { "“\($0)” on Panda Video" } ?? "Panda Video \(id)",
                          fetch: .hls(playlist: playlist, minimumHeight: minimumHeight),
                          marker: video.updatedAt.map { "\($0)|\(video.length ?? 0)|\(minimumHeight)" }, markerKey: "panda:\(id)",
                          durationSeconds: video.length, reference: ["panda": id])
    }
}

/// An HLS playlist per lesson, from a URL template (`{page_id}`, `{module_id}`). Its marker is the playlist's
/// content without its links' signatures: fetched each night (a few hundred bytes), the video only when it
/// changed.
struct HLSTemplateResolver: MediaResolver {
    let template: String
    let minimumHeight: Int

    var kind: String { "hls" }

    func resolve(_ page: CatalogPage) async throws -> MediaResolution {
        let url = fillTemplate(template, page: page)
        return .found(LessonMedia(video: RemoteFile(name: "the lesson's HLS stream", fetch: .hls(playlist: { url }, minimumHeight: minimumHeight),
                                                    markerKey: "hls:" + page.pageID, reference: ["hls": url])),
                      match: .matched(candidate: HLSStream.withoutQuery(url), how: "template", score: 1))
    }
}

/// `{page_id}` and `{module_id}` filled in, URL-encoded.
func fillTemplate(_ template: String, page: CatalogPage) -> String {
    template.replacingOccurrences(of: "{page_id}", with: pathSegmentEncode(page.pageID))
        .replacingOccurrences(of: "{module_id}", with: pathSegmentEncode(page.moduleID))
}
