import Foundation
import Synchronization

/// Panda Video's API and its HLS delivery on 127.0.0.1. The API wants the key itself in `Authorization` (no
/// `Bearer`), lists videos by folder and page (`pages` says how many) and names each video's master playlist
/// (`video_hls`), signed with the video's token generation. The delivery serves a master playlist (a 360p and a
/// 720p variant), media playlists whose segment and key links carry the token, AES-128 encrypted TS segments
/// and their key. Faults on demand: a segment that answers 503 once; a token that expires after a number of
/// segments (older links answer 403, as a CDN's signed URLs do).
public final class FakePanda: Sendable {
    /// A stream as ffmpeg's HLS muxer wrote it: the media playlist's text (segment lines are file names, the
    /// key's URI is `key.bin`), the segments by name and the AES key.
    public struct Stream: Sendable {
        public var playlist: String
        public var segments: [String: [UInt8]]
        public var key: [UInt8]

        public init(playlist: String, segments: [String: [UInt8]], key: [UInt8]) {
            self.playlist = playlist
            self.segments = segments
            self.key = key
        }

        public var bytes: Int { segments.values.reduce(0) { $0 + $1.count } }
    }

    public struct Video: Sendable {
        public var id: String
        public var title: String
        public var description: String
        public var folderID: String
        public var folderName: String
        public var length: Double
        public var updatedAt: String
        public var status: String
        public var stream: Stream

        public init(id: String, title: String, description: String = "", folderID: String, folderName: String, length: Double,
                    updatedAt: String = "2026-11-01T10:00:00.000Z", status: String = "CONVERTED", stream: Stream) {
            self.id = id
            self.title = title
            self.description = description
            self.folderID = folderID
            self.folderName = folderName
            self.length = length
            self.updatedAt = updatedAt
            self.status = status
            self.stream = stream
        }
    }

    struct State: Sendable {
        var videos: [String: Video] = [:]
        var order: [String] = []
        var generation: [String: Int] = [:]
        /// Segment name → answers 503 once.
        var failOnce: Set<String> = []
        /// Video id → segments left before its token expires.
        var expireAfter: [String: Int] = [:]
        var calls: [String: Int] = [:]
        var violations: [String] = []
        var segmentBytes: [String: Int] = [:]
        var variantsFetched: [Int] = []
        var pageSize = 2
    }

    public let key = "panda-\(UUID().uuidString.prefix(16))"
    private let state = Mutex(State())
    private let server = Mutex<FakeHTTPServer?>(nil)

    public var baseURL: String { server.withLock { $0?.baseURL } ?? "" }
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var violations: [String] { state.withLock { $0.violations } }
    /// Segment bytes sent, per video id.
    public var segmentBytes: [String: Int] { state.withLock { $0.segmentBytes } }
    public var totalSegmentBytes: Int { segmentBytes.values.reduce(0, +) }
    /// The heights of the media playlists asked for, in order.
    public var variantsFetched: [Int] { state.withLock { $0.variantsFetched } }

    public static func start() async throws -> FakePanda {
        let fake = FakePanda()
        let server = try await FakeHTTPServer.start { [fake] request in fake.handle(request) }
        fake.server.withLock { $0 = server }
        return fake
    }

    public func stop() async { await server.withLock { $0 }?.stop() }

    public func put(_ video: Video) {
        state.withLock { state in
            if state.videos[video.id] == nil { state.order.append(video.id) }
            state.videos[video.id] = video
        }
    }

    /// `segment` (a name in the stream) answers 503 the next time it is asked for.
    public func failOnce(_ segment: String) { _ = state.withLock { $0.failOnce.insert(segment) } }
    /// After `count` more segments of `id` are served, its token expires.
    public func expireToken(of id: String, afterSegments count: Int) { state.withLock { $0.expireAfter[id] = count } }
    public func resetCounts() { state.withLock { $0.calls = [:]; $0.segmentBytes = [:]; $0.variantsFetched = [] } }

    private func violation(_ text: String, status: Int = 400) -> FakeReply {
        state.withLock { $0.violations.append(text) }
        return .json(status, ["errCode": "INVALID_REQUEST", "errMsg": text])
    }

    func handle(_ request: FakeRequest) -> FakeReply {
        guard request.method == "GET" else { return violation("no such endpoint: \(request.method) \(request.path)", status: 405) }
        let segments = request.path.split(separator: "/").map(String.init)
        if segments.first == "hls" { return delivery(request, segments) }
        guard request.headers["authorization"] == key else {
            return .json(401, ["errCode": "UNAUTHORIZED", "errMsg": "Invalid API key"])
        }
        if segments == ["videos"] {
            state.withLock { $0.calls["GET /videos", default: 0] += 1 }
            let (videos, pageSize) = state.withLock { state in (state.order.compactMap { state.videos[$0] }, state.pageSize) }
            let folder = request.query["folder_id"]
            let listed = videos.filter { video in folder.map { video.folderID == $0 } ?? true }
            let limit = min(Int(request.query["limit"] ?? "10") ?? 10, pageSize)
            let page = Int(request.query["page"] ?? "1") ?? 1
            let slice = Array(listed.dropFirst((page - 1) * limit).prefix(limit))
            return .json(200, ["videos": slice.map(object), "pages": max(1, (listed.count + limit - 1) / limit), "total": listed.count])
        }
        if segments.count == 2, segments[0] == "videos" {
            state.withLock { $0.calls["GET /videos/{id}", default: 0] += 1 }
            guard let video = state.withLock({ $0.videos[segments[1]] }) else {
                return .json(404, ["errCode": "NOT_FOUND", "errMsg": "Video not found"])
            }
            return .json(200, object(video))
        }
        return violation("no such endpoint: \(request.path)", status: 404)
    }

    private func object(_ video: Video) -> [String: Any] {
        let generation = state.withLock { $0.generation[video.id, default: 0] }
        return [
            "id": video.id, "title": video.title, "description": video.description, "status": video.status, "length": video.length,
            "folder_id": video.folderID, "folder_name": video.folderName, "updated_at": video.updatedAt, "created_at": "2026-10-01T10:00:00.000Z",
            "video_player": "https://player-vz-0000.tv.pandavideo.com.br/embed/?v=\(video.id)",
            "video_hls": "\(baseURL)/hls/\(video.id)/master.m3u8?token=\(video.id)-\(generation)",
        ]
    }

    /// `/hls/{id}/master.m3u8`, `/hls/{id}/{height}/index.m3u8`, `/hls/{id}/{height}/{segment or key.bin}`, each
    /// with `?token={id}-{generation}`.
    private func delivery(_ request: FakeRequest, _ segments: [String]) -> FakeReply {
        state.withLock { state -> FakeReply in
            guard segments.count >= 3, let video = state.videos[segments[1]] else { return .respond(status: 404, headers: [], body: []) }
            let token = "\(video.id)-\(state.generation[video.id, default: 0])"
            guard request.query["token"] == token else {
                return .respond(status: 403, headers: [("Content-Type", "text/plain")], body: Array("token expired".utf8))
            }
            let query = "?token=\(token)"
            if segments.count == 3, segments[2] == "master.m3u8" {
                let text = """
                    #EXTM3U
                    #EXT-X-VERSION:3
                    #EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
                    360/index.m3u8\(query)
                    #EXT-X-STREAM-INF:BANDWIDTH=2400000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
                    720/index.m3u8\(query)
                    #EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"
                    1080/index.m3u8\(query)

                    """
                return .respond(status: 200, headers: [("Content-Type", "application/vnd.apple.mpegurl")], body: Array(text.utf8))
            }
            guard segments.count == 4, let height = Int(segments[2]) else { return .respond(status: 404, headers: [], body: []) }
            let name = segments[3]
            if name == "index.m3u8" {
                state.variantsFetched.append(height)
                let lines = video.stream.playlist.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                    if line.hasPrefix("#EXT-X-KEY:") { return line.replacingOccurrences(of: "URI=\"key.bin\"", with: "URI=\"key.bin\(query)\"") }
                    return line.hasPrefix("#") || line.isEmpty ? String(line) : line + query
                }
                return .respond(status: 200, headers: [("Content-Type", "application/vnd.apple.mpegurl")], body: Array(lines.joined(separator: "\n").utf8))
            }
            if name == "key.bin" { return .respond(status: 200, headers: [("Content-Type", "application/octet-stream")], body: video.stream.key) }
            guard let bytes = video.stream.segments[name] else { return .respond(status: 404, headers: [], body: []) }
            if state.failOnce.remove(name) != nil { return .respond(status: 503, headers: [("Content-Type", "text/plain")], body: Array("busy".utf8)) }
            if let left = state.expireAfter[video.id] {
                if left <= 1 {
                    state.expireAfter[video.id] = nil
                    state.generation[video.id, default: 0] += 1
                } else {
                    state.expireAfter[video.id] = left - 1
                }
            }
            state.segmentBytes[video.id, default: 0] += bytes.count
            return .respond(status: 200, headers: [("Content-Type", "video/mp2t")], body: bytes)
        }
    }
}
