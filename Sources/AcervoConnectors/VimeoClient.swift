import AcervoStore
import Foundation

/// Vimeo's API (v3.4): a personal access token (`Authorization: bearer …`, scopes `private` and
/// `video_files`), lists paginated with `page` / `per_page` and `paging.next`, answers trimmed with `fields=`.
/// Video files' links expire (hours for the CDN's redirect, a day for `download`): a video is looked up again
/// right before each download.
public struct VimeoClient: Sendable {
    public let api: APIClient
    public let baseURL: String

    public init(context: ConnectorContext, tokenVariable: String) throws(ConnectorError) {
        let token = try context.environment.requiredSecret(tokenVariable, for: "Vimeo")
        api = APIClient(provider: "Vimeo", session: context.httpSession, retry: context.retry, secrets: [token], log: context.log,
                        authorize: { _ in [("Authorization", "bearer \(token.value)"), ("Accept", "application/vnd.vimeo.*+json;version=3.4")] })
        baseURL = context.environment.baseURL("ACERVO_VIMEO_URL", default: "https://api.vimeo.com")
    }

    /// A progressive rendition (`files`) or an original (`download`).
    public struct File: Decodable, Sendable, Equatable {
        public var quality: String?
        public var rendition: String?
        public var type: String?
        public var width: Int?
        public var height: Int?
        public var size: Int64?
        public var link: String?
        public var expires: String?
    }

    public struct Video: Decodable, Sendable {
        public var uri: String
        public var name: String?
        public var description: String?
        /// Seconds.
        public var duration: Double?
        public var modifiedTime: String?
        public var files: [File]?
        public var download: [File]?
        public var parentFolder: Folder?
        /// How many text tracks (captions, subtitles) it has: `metadata.connections.texttracks.total`.
        public var textTrackCount: Int?

        public struct Folder: Decodable, Sendable {
            public var name: String?
        }

        struct Metadata: Decodable {
            struct Connections: Decodable {
                struct Count: Decodable { var total: Int? }
                var texttracks: Count?
            }
            var connections: Connections?
        }

        enum CodingKeys: String, CodingKey {
            case uri, name, description, duration, files, download, metadata
            case modifiedTime = "modified_time"
            case parentFolder = "parent_folder"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            uri = try container.decode(String.self, forKey: .uri)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            description = try container.decodeIfPresent(String.self, forKey: .description)
            duration = try container.decodeIfPresent(Double.self, forKey: .duration)
            modifiedTime = try container.decodeIfPresent(String.self, forKey: .modifiedTime)
            files = try container.decodeIfPresent([File].self, forKey: .files)
            download = try container.decodeIfPresent([File].self, forKey: .download)
            parentFolder = try container.decodeIfPresent(Folder.self, forKey: .parentFolder)
            textTrackCount = try container.decodeIfPresent(Metadata.self, forKey: .metadata)?.connections?.texttracks?.total
        }

        /// `123456` of `/videos/123456`.
        public var id: String { String(uri.split(separator: "/").last ?? Substring(uri)) }
    }

    struct Listing: Decodable {
        struct Paging: Decodable { var next: String? }
        var data: [Video]
        var paging: Paging?
    }

    static let listFields = "uri,name,description,duration,modified_time,parent_folder.name,metadata.connections.texttracks.total"
    static let fileFields = "uri,name,modified_time,duration,files,download,metadata.connections.texttracks.total"

    /// Every video of a folder (project), or of the account when `folder` is nil.
    public func videos(folder: String?) async throws(ConnectorError) -> [Video] {
        let path = folder.map { "/me/projects/\(pathSegmentEncode($0))/videos" } ?? "/me/videos"
        var url: String? = "\(baseURL)\(path)?per_page=100&fields=\(Self.listFields)"
        var videos: [Video] = []
        var seen = Set<String>()
        while let next = url {
            let page = try await api.json(APIRequest(.GET, next), as: Listing.self)
            videos += page.data
            // `paging.next` is a path with its query; a page seen before ends the walk (a looping server).
            url = page.paging?.next.flatMap { seen.insert($0).inserted ? ($0.hasPrefix("http") ? $0 : baseURL + $0) : nil }
        }
        return videos
    }

    /// One video with its files, looked up right before fetching them: their links expire.
    public func video(id: String) async throws(ConnectorError) -> Video {
        let request = APIRequest(.GET, "\(baseURL)/videos/\(pathSegmentEncode(id))?fields=\(Self.fileFields)")
        do {
            return try await api.json(request, as: Video.self)
        } catch where error.status == 403 {
            throw ConnectorError(.authentication, provider: "Vimeo", request: error.request, status: 403,
                                 message: "\(error.message) — the token must have the `video_files` scope (and the account a plan that allows it): "
                                    + "create one with scopes public, private, video_files")
        }
    }

    /// A caption or subtitle track; its `link` (WebVTT) expires like a video file's.
    public struct TextTrack: Decodable, Sendable, Equatable {
        public var uri: String
        public var active: Bool?
        /// `captions`, `subtitles`, `chapters`, `descriptions`, `metadata`.
        public var type: String?
        /// `es`, `pt-BR`; automatic captions end in `-x-autogen`.
        public var language: String?
        public var link: String?
        public var name: String?
    }

    struct TextTracks: Decodable { var data: [TextTrack] }

    /// A video's text tracks, asked for right before the captions are fetched (their links expire).
    public func textTracks(videoID: String) async throws(ConnectorError) -> [TextTrack] {
        let url = "\(baseURL)/videos/\(pathSegmentEncode(videoID))/texttracks?fields=uri,active,type,language,link,name"
        return try await api.json(APIRequest(.GET, url), as: TextTracks.self).data
    }

    /// The track to read as the lesson's captions: captions or subtitles with a link, a person's before an
    /// automatic one (`-x-autogen`), the active one first.
    public static func chooseTrack(_ tracks: [TextTrack]) -> TextTrack? {
        let readable = tracks.filter { $0.link != nil && ["captions", "subtitles"].contains($0.type ?? "captions") }
        return readable.min { rank($0) < rank($1) }
    }

    private static func rank(_ track: TextTrack) -> (Int, Int) {
        ((track.language ?? "").hasSuffix("-x-autogen") ? 1 : 0, track.active == true ? 0 : 1)
    }

    /// The file to fetch: the smallest progressive MP4 at least `minimumHeight` tall (OCR needs legible
    /// slides, bandwidth does not need 4K); the tallest when none is tall enough; an original from `download`
    /// when the account lists no progressive files.
    public static func choose(_ video: Video, minimumHeight: Int) -> File? {
        let progressive = (video.files ?? []).filter { file in
            file.link != nil && (file.type ?? "video/mp4") == "video/mp4" && file.quality != "hls" && file.quality != "dash"
        }
        let candidates = progressive.isEmpty ? (video.download ?? []).filter { $0.link != nil } : progressive
        let tallEnough = candidates.filter { ($0.height ?? 0) >= minimumHeight }
        if let smallest = tallEnough.min(by: { (($0.height ?? 0), ($0.size ?? 0)) < (($1.height ?? 0), ($1.size ?? 0)) }) { return smallest }
        return candidates.max { (($0.height ?? 0), ($0.size ?? 0)) < (($1.height ?? 0), ($1.size ?? 0)) }
    }
}
