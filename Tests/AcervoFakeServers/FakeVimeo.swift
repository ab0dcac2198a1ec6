import Foundation
import Synchronization

/// Vimeo's API (v3.4) and its CDN on 127.0.0.1, strict as the real one: a personal access token
/// (`Authorization: bearer …`) whose scopes are checked (`/videos/{id}` answers 403 without `video_files`),
/// the version in `Accept`, folder listings paginated with `page` / `per_page` (at most `pageSize` per page,
/// whatever is asked) and trimmed by `fields=` (a listing without it is a violation: answers stay small).
/// A video's `files` links expire: each link carries the video's link generation, and once it has moved on the
/// link — and the CDN URL it redirects to — answers 403. The CDN serves byte ranges and counts what it sends.
public final class FakeVimeo: Sendable {
    public struct Video: Sendable {
        public var id: String
        public var name: String
        public var description: String
        /// The project (folder) id it is in, and the folder's name.
        public var folder: String
        public var folderName: String
        public var duration: Double
        public var modifiedTime: String
        /// Height → the MP4 of that rendition.
        public var renditions: [Int: [UInt8]]
        /// Text tracks: language (`es`, `es-x-autogen`) → WebVTT.
        public var textTracks: [String: String]

        public init(id: String, name: String, description: String = "", folder: String, folderName: String, duration: Double,
                    modifiedTime: String = "2026-11-01T10:00:00+00:00", renditions: [Int: [UInt8]], textTracks: [String: String] = [:]) {
            self.textTracks = textTracks
            self.id = id
            self.name = name
            self.description = description
            self.folder = folder
            self.folderName = folderName
            self.duration = duration
            self.modifiedTime = modifiedTime
            self.renditions = renditions
        }
    }

    struct State: Sendable {
        var videos: [String: Video] = [:]
        var order: [String] = []
        var scopes: Set<String> = ["public", "private", "video_files"]
        var generation: [String: Int] = [:]
        /// Video ids whose next CDN download is cut halfway, after which its links expire.
        var expireMidDownload: Set<String> = []
        var calls: [String: Int] = [:]
        var violations: [String] = []
        var cdnBytes: [String: Int] = [:]
        var ranges = 0
        var pageSize = 3
    }

    public let token = "vimeo-\(UUID().uuidString.prefix(12))"
    private let state = Mutex(State())
    private let server = Mutex<FakeHTTPServer?>(nil)

    public var baseURL: String { server.withLock { $0?.baseURL } ?? "" }
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var violations: [String] { state.withLock { $0.violations } }
    /// Video bytes the CDN sent, per video id.
    public var cdnBytes: [String: Int] { state.withLock { $0.cdnBytes } }
    public var totalCDNBytes: Int { cdnBytes.values.reduce(0, +) }
    /// Downloads resumed with a `Range`.
    public var rangeRequests: Int { state.withLock { $0.ranges } }

    public static func start() async throws -> FakeVimeo {
        let fake = FakeVimeo()
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

    public func remove(_ id: String) {
        state.withLock { state in
            state.videos[id] = nil
            state.order.removeAll { $0 == id }
        }
    }

    public func setScopes(_ scopes: Set<String>) { state.withLock { $0.scopes = scopes } }
    /// The next download of `id` from the CDN stops halfway and every link to it expires.
    public func expireMidDownload(_ id: String) { _ = state.withLock { $0.expireMidDownload.insert(id) } }
    public func resetCounts() { state.withLock { $0.calls = [:]; $0.cdnBytes = [:]; $0.ranges = 0 } }

    private func violation(_ text: String, status: Int = 400) -> FakeReply {
        state.withLock { $0.violations.append(text) }
        return .json(status, ["error": text, "error_code": 2204])
    }

    func handle(_ request: FakeRequest) -> FakeReply {
        guard request.method == "GET" else { return violation("no such endpoint: \(request.method) \(request.path)", status: 405) }
        let segments = request.path.split(separator: "/").map(String.init)
        if segments.first == "play" || segments.first == "cdn" { return cdn(request, segments) }
        if segments.first == "tt", segments.count == 3 {
            return state.withLock { state -> FakeReply in
                guard let text = state.videos[segments[1]]?.textTracks[segments[2]] else { return .respond(status: 404, headers: [], body: []) }
                guard request.query["s"] == "\(state.generation[segments[1], default: 0])" else {
                    return .respond(status: 403, headers: [("Content-Type", "text/plain")], body: Array("Link expired".utf8))
                }
                state.calls["GET captions", default: 0] += 1
                return .respond(status: 200, headers: [("Content-Type", "text/vtt")], body: Array(text.utf8))
            }
        }

        guard request.headers["authorization"] == "bearer \(token)" else {
            return .json(401, ["error": "You must provide a valid authenticated access token.", "error_code": 8003])
        }
        guard request.headers["accept"]?.contains("application/vnd.vimeo.*+json;version=3.4") == true else {
            return violation("ask for version 3.4 in Accept")
        }
        state.withLock { $0.calls["GET " + (segments.first == "videos" ? "/videos/{id}" : "listing"), default: 0] += 1 }
        if segments.count == 2, segments[0] == "videos" { return video(segments[1], request) }
        if segments.count == 3, segments[0] == "videos", segments[2] == "texttracks" { return textTracks(segments[1], request) }
        let folder: String?
        if segments == ["me", "videos"] {
            folder = nil
        } else if segments.count == 4, segments[0] == "me", segments[1] == "projects", segments[3] == "videos" {
            folder = segments[2]
        } else {
            return violation("no such endpoint: \(request.path)", status: 404)
        }
        guard let fields = request.query["fields"], !fields.isEmpty else { return violation("list videos with `fields=`: answers stay small") }
        let (videos, pageSize) = state.withLock { state in (state.order.compactMap { state.videos[$0] }, state.pageSize) }
        let listed = videos.filter { folder == nil || $0.folder == folder }
        let perPage = min(Int(request.query["per_page"] ?? "25") ?? 25, pageSize)
        let page = Int(request.query["page"] ?? "1") ?? 1
        let slice = Array(listed.dropFirst((page - 1) * perPage).prefix(perPage))
        let path = folder.map { "/me/projects/\($0)/videos" } ?? "/me/videos"
        let next: Any = page * perPage < listed.count ? "\(path)?page=\(page + 1)&per_page=\(perPage)&fields=\(fields)" : NSNull()
        return .json(200, [
            "total": listed.count, "page": page, "per_page": perPage,
            "paging": ["next": next, "previous": NSNull(), "first": "\(path)?page=1", "last": "\(path)?page=\(max(1, (listed.count + perPage - 1) / perPage))"],
            "data": slice.map { trimmed(object($0, files: false), to: fields) },
        ])
    }

    private func video(_ id: String, _ request: FakeRequest) -> FakeReply {
        let (found, scopes) = state.withLock { ($0.videos[id], $0.scopes) }
        guard let found else { return .json(404, ["error": "The requested video couldn't be found.", "error_code": 5000]) }
        guard scopes.contains("video_files") else {
            return .json(403, ["error": "You don't have permission to access this video's files.", "error_code": 3200,
                               "developer_message": "The authenticated token lacks the video_files scope."])
        }
        let object = object(found, files: true)
        return .json(200, request.query["fields"].map { trimmed(object, to: $0) } ?? object)
    }

    private func object(_ video: Video, files: Bool) -> [String: Any] {
        var object: [String: Any] = [
            "uri": "/videos/\(video.id)", "name": video.name, "description": video.description, "duration": video.duration,
            "modified_time": video.modifiedTime, "parent_folder": ["name": video.folderName, "uri": "/users/1/projects/\(video.folder)"],
            "link": "https://vimeo.com/\(video.id)", "pictures": ["sizes": [["width": 1920, "link": "https://i.vimeocdn.com/x.jpg"]]],
            "metadata": ["connections": ["texttracks": ["uri": "/videos/\(video.id)/texttracks", "total": video.textTracks.count],
                                         "comments": ["total": 0]]],
        ]
        if files {
            let generation = state.withLock { $0.generation[video.id, default: 0] }
            object["files"] = video.renditions.keys.sorted().map { height -> [String: Any] in
                ["quality": height >= 720 ? "hd" : "sd", "rendition": "\(height)p", "type": "video/mp4", "width": height * 16 / 9, "height": height,
                 "size": video.renditions[height]!.count, "link": "\(baseURL)/play/\(video.id)/\(height)?s=\(generation)",
                 "expires": "2026-12-09T00:00:00+00:00"]
            } + [["quality": "hls", "type": "video/mp4", "link": "\(baseURL)/hls/\(video.id).m3u8"]]
            object["download"] = []
        }
        return object
    }

    /// `fields=uri,name,parent_folder.name,metadata.connections.texttracks.total`: only those keys (and of
    /// nested ones only the named parts, at any depth).
    private func trimmed(_ object: [String: Any], to fields: String) -> [String: Any] {
        var result: [String: Any] = [:]
        for field in fields.split(separator: ",").map(String.init) {
            keep(field.split(separator: ".").map(String.init)[...], from: object, into: &result)
        }
        return result
    }

    private func keep(_ path: ArraySlice<String>, from object: [String: Any], into result: inout [String: Any]) {
        guard let key = path.first, let value = object[key] else { return }
        guard path.count > 1, let nested = value as? [String: Any] else {
            result[key] = value
            return
        }
        var kept = result[key] as? [String: Any] ?? [:]
        keep(path.dropFirst(), from: nested, into: &kept)
        result[key] = kept
    }

    /// `/videos/{id}/texttracks`: each track with a link that expires with the video's other links.
    private func textTracks(_ id: String, _ request: FakeRequest) -> FakeReply {
        guard let video = state.withLock({ $0.videos[id] }) else {
            return .json(404, ["error": "The requested video couldn't be found.", "error_code": 5000])
        }
        let generation = state.withLock { $0.generation[id, default: 0] }
        let tracks: [[String: Any]] = video.textTracks.keys.sorted().enumerated().map { index, language in
            ["uri": "/videos/\(id)/texttracks/\(index + 1)", "id": index + 1, "active": index == 0, "type": "captions", "language": language,
             "name": language, "link": "\(baseURL)/tt/\(id)/\(language)?s=\(generation)", "link_expires_time": 1_796_800_000]
        }
        let answer: [String: Any] = ["total": tracks.count, "data": tracks.map { track in
            request.query["fields"].map { trimmed(track, to: $0) } ?? track
        }]
        return .json(200, answer)
    }

    /// `/play/{id}/{height}?s=G` redirects to `/cdn/{id}/{height}.mp4?exp=G`, which serves the bytes — both
    /// 403 once the video's links have moved past generation G.
    private func cdn(_ request: FakeRequest, _ segments: [String]) -> FakeReply {
        guard segments.count == 3 else { return .respond(status: 404, headers: [], body: []) }
        let id = segments[1]
        let height = Int(segments[2].replacingOccurrences(of: ".mp4", with: "")) ?? 0
        return state.withLock { state -> FakeReply in
            guard let bytes = state.videos[id]?.renditions[height] else { return .respond(status: 404, headers: [], body: []) }
            let generation = state.generation[id, default: 0]
            let given = Int(request.query[segments[0] == "play" ? "s" : "exp"] ?? "") ?? -1
            guard given == generation else {
                return .respond(status: 403, headers: [("Content-Type", "text/plain")], body: Array("Link expired".utf8))
            }
            if segments[0] == "play" {
                return .respond(status: 302, headers: [("Location", "\(baseURL)/cdn/\(id)/\(height).mp4?exp=\(generation)")], body: [])
            }
            var start = 0
            if let range = request.headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-") {
                start = Int(range.dropFirst(6).dropLast()) ?? 0
                state.ranges += 1
            }
            guard start < bytes.count else { return .respond(status: 416, headers: [("Content-Range", "bytes */\(bytes.count)")], body: []) }
            let body = Array(bytes[start...])
            let headers: [(String, String)] = [("Content-Type", "video/mp4"), ("Accept-Ranges", "bytes")]
                + (start > 0 ? [("Content-Range", "bytes \(start)-\(bytes.count - 1)/\(bytes.count)")] : [])
            if state.expireMidDownload.remove(id) != nil {
                state.generation[id, default: 0] += 1
                state.cdnBytes[id, default: 0] += body.count / 2
                return .partial(status: start > 0 ? 206 : 200, headers: headers, body: body, sendBytes: body.count / 2)
            }
            state.cdnBytes[id, default: 0] += body.count
            return .respond(status: start > 0 ? 206 : 200, headers: headers, body: body)
        }
    }
}
