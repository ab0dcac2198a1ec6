import AcervoStore
import Foundation

/// Panda Video's API (`https://api-v2.pandavideo.com.br`): the key in `Authorization` (no `Bearer`), videos
/// listed by folder and page, each with its HLS playlist (`video_hls`), length and last change.
public struct PandaClient: Sendable {
    public let api: APIClient
    public let baseURL: String

    public init(context: ConnectorContext, keyVariable: String) throws(ConnectorError) {
        let key = try context.environment.requiredSecret(keyVariable, for: "Panda Video")
        api = APIClient(provider: "Panda Video", session: context.httpSession, retry: context.retry, secrets: [key], log: context.log,
                        authorize: { _ in [("Authorization", key.value)] })
        baseURL = context.environment.baseURL("ACERVO_PANDA_URL", default: "https://api-v2.pandavideo.com.br")
    }

    public struct Video: Decodable, Sendable {
        public var id: String
        public var title: String?
        public var description: String?
        public var videoHLS: String?
        public var status: String?
        /// Seconds.
        public var length: Double?
        public var updatedAt: String?
        public var folderName: String?

        enum CodingKeys: String, CodingKey {
            case id, title, description, status, length
            case videoHLS = "video_hls"
            case updatedAt = "updated_at"
            case folderName = "folder_name"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // Ids come as text or as numbers, depending on the account's age.
            if let text = try? container.decode(String.self, forKey: .id) { id = text } else { id = String(try container.decode(Int.self, forKey: .id)) }
            title = try container.decodeIfPresent(String.self, forKey: .title)
            description = try container.decodeIfPresent(String.self, forKey: .description)
            videoHLS = try container.decodeIfPresent(String.self, forKey: .videoHLS)
            status = try container.decodeIfPresent(String.self, forKey: .status)
            length = try container.decodeIfPresent(Double.self, forKey: .length)
            updatedAt = try container.decodeIfPresent(String.self, forKey: .updatedAt)
            folderName = try container.decodeIfPresent(String.self, forKey: .folderName)
        }

        /// Converted and playable: Panda lists uploads still being processed too.
        public var isReady: Bool { videoHLS != nil && (status.map { $0.uppercased() == "CONVERTED" } ?? true) }
    }

    struct Listing: Decodable {
        var videos: [Video]
        var pages: Int?
    }

    /// Every video of a folder (or of the account), page by page.
    public func videos(folder: String?) async throws(ConnectorError) -> [Video] {
        var videos: [Video] = []
        var page = 1
        while true {
            var url = "\(baseURL)/videos?page=\(page)&limit=100"
            if let folder { url += "&folder_id=\(formEncode(folder))" }
            let listing = try await api.json(APIRequest(.GET, url), as: Listing.self)
            videos += listing.videos
            guard let pages = listing.pages, page < pages, !listing.videos.isEmpty, page < 1000 else { return videos }
            page += 1
        }
    }

    /// One video, looked up again right before its playlist is fetched (signed playlist URLs expire).
    public func video(id: String) async throws(ConnectorError) -> Video {
        try await api.json(APIRequest(.GET, "\(baseURL)/videos/\(pathSegmentEncode(id))"), as: Video.self)
    }
}
