import AcervoConnectors
import AcervoEngine
import AcervoStore
import Foundation
import Synchronization

/// A lesson as the catalog lists it, before its media are known: what a resolver matches on.
public struct CatalogPage: Sendable, Equatable {
    public var pageID: String
    public var title: String
    public var moduleID: String
    public var moduleName: String

    public init(pageID: String, title: String, moduleID: String, moduleName: String) {
        self.pageID = pageID
        self.title = title
        self.moduleID = moduleID
        self.moduleName = moduleName
    }
}

/// One file of a lesson where it really is, and how to bring it into the store.
public struct RemoteFile: Sendable {
    /// How the bytes are fetched.
    public enum Fetch: Sendable {
        /// A URL, fetched with resumption.
        case http(url: String, expectedDigest: Digest?, expectedSize: Int64?)
        /// A signed link asked for right before the download (it expires), and again when it expires half-way:
        /// the download resumes with the fresh one.
        case signed(link: Downloader.Relink, expectedSize: Int64?)
        /// An HLS playlist (asked for right before the download: signed playlists expire), remuxed by ffmpeg
        /// into MP4 without re-encoding; of a master playlist, the smallest variant at least `minimumHeight` tall.
        case hls(playlist: Downloader.Relink, minimumHeight: Int)
        /// A file on this machine (or a mounted bucket).
        case local(path: String)
    }

    /// What a person calls it (`Aula 3 - Funções.mp4`, `Vimeo 123456`): failure messages name the file so.
    public var name: String
    public var fetch: Fetch
    /// What changes when the file changes, and only then (a host's modification time and size, a
    /// playlist's bytes): with a marker known from before, the file is not fetched again. Nil: always ask.
    public var marker: String?
    /// Where the marker is remembered (`vimeo:123456`); one key per file, whatever its URL today.
    public var markerKey: String?
    /// What the host says of it without a download (a plan's estimates need the duration).
    public var durationSeconds: Double?
    public var bytes: Int64?
    /// The file as a manifest names it (`{"vimeo": "123456"}`, `{"file": "originals/aula-3.mp4"}`): what
    /// `acervo media --write-manifest` writes, so that a person can pin or correct a match.
    public var reference: [String: String]

    public init(name: String, fetch: Fetch, marker: String? = nil, markerKey: String? = nil, durationSeconds: Double? = nil, bytes: Int64? = nil,
                reference: [String: String] = [:]) {
        self.name = name
        self.fetch = fetch
        self.marker = marker
        self.markerKey = markerKey
        self.durationSeconds = durationSeconds
        self.bytes = bytes
        self.reference = reference
    }
}

/// A lesson's files, as one resolver found them.
public struct LessonMedia: Sendable {
    public var video: RemoteFile?
    public var captions: RemoteFile?
    public var materials: [RemoteFile]

    public init(video: RemoteFile? = nil, captions: RemoteFile? = nil, materials: [RemoteFile] = []) {
        self.video = video
        self.captions = captions
        self.materials = materials
    }

    public var isEmpty: Bool { video == nil && captions == nil && materials.isEmpty }
}

/// How a page and a hosted video were paired, for `acervo media` and the lesson's failure when they were not.
public enum MatchOutcome: Sendable, Equatable, Codable {
    /// `how`: `manifest`, `id`, `title`, `title+module`, `template`; `score` from 0 to 1.
    case matched(candidate: String, how: String, score: Double)
    case ambiguous(candidates: [String])
    case unmatched(reason: String)
}

/// What a resolver answers for a page: the files it found (and how it matched them), several candidates it
/// cannot choose between, or nothing (the next resolver is asked).
public enum MediaResolution: Sendable {
    case found(LessonMedia, match: MatchOutcome)
    case ambiguous(candidates: [String])
    case notFound(reason: String)
}

/// A place where producers keep their lessons' media: Vimeo, Panda Video, HLS URLs, a folder of originals, a
/// manifest or URL templates. Each is one small type: `prepare` lists the host's catalog once per build,
/// `resolve` answers for one page. A new host is one more conformance.
public protocol MediaResolver: Sendable {
    /// `vimeo`, `panda`, `hls`, `folder`, `manifest`, `template`: how it is named in messages and `acervo media`.
    var kind: String { get }
    /// Reads the host's catalog (a folder's videos), once per build; pages are matched against it.
    func prepare(pages: [CatalogPage]) async throws
    func resolve(_ page: CatalogPage) async throws -> MediaResolution
}

extension MediaResolver {
    public func prepare(pages: [CatalogPage]) async throws {}
}

/// A resolver that pairs pages with a host's list of videos (Vimeo, Panda, a folder): the list is read once,
/// matched once, and each page looked up in the result.
final class MatchedCatalog<Video: Sendable>: Sendable {
    private let matches = Mutex<[String: PageMatch<Video>]?>(nil)

    func set(candidates: [MatchCandidate<Video>], pages: [CatalogPage], minimumScore: Double) {
        let found = MediaMatcher(minimumScore: minimumScore).match(pages: pages, candidates: candidates)
        matches.withLock { $0 = found }
    }

    var isPrepared: Bool { matches.withLock { $0 != nil } }

    func match(for page: CatalogPage) -> PageMatch<Video>? { matches.withLock { $0?[page.pageID] } }

    /// A resolver's answer for `page`: the media made of the paired video, the candidates it could not choose
    /// between, or why none fits. `host` begins its reasons (`Vimeo: …`); `shown` names a video in them.
    func resolution(for page: CatalogPage, host: String, unread: String, shown: (MatchCandidate<Video>) -> String = \.shown,
                    media: (MatchCandidate<Video>) -> LessonMedia) -> MediaResolution {
        switch match(for: page) {
        case .matched(let candidate, let how, let score)?:
            return .found(media(candidate), match: .matched(candidate: shown(candidate), how: how, score: score))
        case .ambiguous(let candidates)?: return .ambiguous(candidates: candidates.map(shown))
        case .unmatched(let reason)?: return .notFound(reason: "\(host): \(reason)")
        case nil: return .notFound(reason: "\(host): \(unread)")
        }
    }
}
