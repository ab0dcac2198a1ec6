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
        catalog.resolution(for: page, host: "Vimeo", unread: "the folder was not read") { candidate in
            Self.media(candidate.video, client: client, minimumHeight: settings.minimumHeight)
        }
    }

    /// A video and, when it has text tracks, its captions (a person's before automatic ones): the free
    /// transcript a `captions` rule reads instead of paying for speech-to-text.
    static func media(_ video: VimeoClient.Video, client: VimeoClient, minimumHeight: Int) -> LessonMedia {
        LessonMedia(video: file(video, client: client, minimumHeight: minimumHeight), captions: captions(video, client: client))
    }

    /// The captions as a file to fetch, when the video has text tracks: the track's link is asked for at
    /// download time (it expires). The marker is the video's last change and its number of tracks.
    static func captions(_ video: VimeoClient.Video, client: VimeoClient) -> RemoteFile? {
        guard let count = video.textTrackCount, count > 0 else { return nil }
        let id = video.id
        let link: Downloader.Relink = { () async throws(ConnectorError) -> String in
            guard let track = VimeoClient.chooseTrack(try await client.textTracks(videoID: id)), let link = track.link else {
                throw ConnectorError(.badResponse, provider: "Vimeo", request: "GET /videos/\(id)/texttracks",
                                     message: "the video lists no captions or subtitles with a file to read")
            }
            return link
        }
        return RemoteFile(name: video.name.map { "captions of “\($0)” on Vimeo" } ?? "captions of Vimeo video \(id)",
                          fetch: .signed(link: link, expectedSize: nil),
                          marker: video.modifiedTime.map { "\($0)|tracks:\(count)" }, markerKey: "vimeo-captions:\(id)")
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
