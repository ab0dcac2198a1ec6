import AcervoConnectors
import AcervoRules
import Foundation

/// Lessons on Vimeo: a folder's (or the account's) videos listed once per build and paired with pages by id or
/// title. A video's file link expires within hours, so it is asked for right before the download, and again if
/// it expires half-way; the video's last change (`modified_time`) is its marker, so an unchanged video costs
/// one listing per night and no download.
struct VimeoResolver: MediaResolver {
    let client: VimeoClient
    let settings: VimeoSettings
    private let catalog = MatchedCatalog<VimeoClient.Video>()

    init(context: ConnectorContext, settings: VimeoSettings) throws(ConnectorError) {
        client = try VimeoClient(context: context, tokenVariable: settings.tokenVariable)
        self.settings = settings
    }

    var kind: String { "vimeo" }

    func prepare(pages: [CatalogPage]) async throws {
        let videos = try await client.videos(folder: settings.folder)
        catalog.set(candidates: videos.map { video in
            MatchCandidate(id: video.id, name: video.name ?? "", description: video.description ?? "", folder: video.parentFolder?.name, video: video)
        }, pages: pages, minimumScore: settings.match.minimumScore)
    }

    func resolve(_ page: CatalogPage) async throws -> MediaResolution {
        switch catalog.match(for: page) {
        case .matched(let candidate, let how, let score)?:
            return .found(LessonMedia(video: Self.file(candidate.video, client: client, minimumHeight: settings.minimumHeight)),
                          match: .matched(candidate: candidate.shown, how: how, score: score))
        case .ambiguous(let candidates)?: return .ambiguous(candidates: candidates.map(\.shown))
        case .unmatched(let reason)?: return .notFound(reason: "Vimeo: \(reason)")
        case nil: return .notFound(reason: "Vimeo: the folder was not read")
        }
    }

    /// A video as a file to fetch: the link is asked for at download time (it expires).
    static func file(_ video: VimeoClient.Video, client: VimeoClient, minimumHeight: Int) -> RemoteFile {
        let id = video.id
        let name = video.name.map { "“\($0)” on Vimeo" } ?? "Vimeo video \(id)"
        let link: Downloader.Relink = { () async throws(ConnectorError) -> String in
            let fresh = try await client.video(id: id)
            guard let file = VimeoClient.choose(fresh, minimumHeight: minimumHeight), let link = file.link else {
                throw ConnectorError(.badResponse, provider: "Vimeo", request: "GET /videos/\(id)",
                                     message: "the video lists no file to download — is it still transcoding, or does the token lack the `video_files` scope?")
            }
            return link
        }
        // The marker: the video's last change and length, with the height wanted (another height is another file).
        let marker = video.modifiedTime.map { "\($0)|\(video.duration ?? 0)|\(minimumHeight)" }
        return RemoteFile(name: name, fetch: .signed(link: link, expectedSize: nil), marker: marker, markerKey: "vimeo:\(id)",
                          durationSeconds: video.duration, reference: ["vimeo": id])
    }
}
