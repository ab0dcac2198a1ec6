import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation

/// Hotmart's OAuth client-credentials token: `POST /security/oauth/token?grant_type=client_credentials&…` with
/// `Authorization: Basic …`; cached until a minute before it expires, refreshed on a 401.
final class HotmartToken: Sendable {
    let clientID: Secret
    let clientSecret: Secret
    let basic: Secret
    let authURL: String
    let api: APIClient
    private let cache = AccessTokenCache()

    init(environment: ConnectorEnvironment, session: HTTPSession, retry: RetryPolicy, log: @escaping @Sendable (String) -> Void) throws(ConnectorError) {
        clientID = try environment.requiredSecret("HOTMART_CLIENT_ID", for: "Hotmart")
        clientSecret = try environment.requiredSecret("HOTMART_CLIENT_SECRET", for: "Hotmart")
        basic = try environment.secret("HOTMART_BASIC")
            ?? Secret(Data("\(clientID.value):\(clientSecret.value)".utf8).base64EncodedString())
        authURL = environment.baseURL("ACERVO_HOTMART_AUTH_URL", default: "https://api-sec-vlc.hotmart.com")
        api = APIClient(provider: "Hotmart OAuth", session: session, retry: retry, secrets: [clientSecret, basic], log: log)
    }

    func token(refresh: Bool) async throws(ConnectorError) -> Secret {
        try await cache.token(refresh: refresh) { () async throws(ConnectorError) -> AccessTokenResponse in
            let query = "grant_type=client_credentials&client_id=\(formEncode(clientID.value))&client_secret=\(formEncode(clientSecret.value))"
            do throws(ConnectorError) {
                return try await api.json(APIRequest("POST", "\(authURL)/security/oauth/token?\(query)",
                                                     headers: [("Authorization", "Basic \(basic.value)")]))
            } catch {
                guard error.kind == .rejected else { throw error }
                throw ConnectorError(.authentication, provider: "Hotmart", request: error.request, status: error.status, message: error.message)
            }
        }
    }
}

/// Where a lesson's files are: Hotmart's API describes the catalog but does not hand out videos, so the
/// media come from configuration — a manifest (JSON: page id → `video`, `captions`, `materials`, with
/// optional `sha256`/`size` per file) or URL templates with `{page_id}`, `{module_id}`.
public struct HotmartMedia: Sendable, Equatable {
    public struct File: Sendable, Equatable, Decodable {
        public var url: String
        public var sha256: String?
        public var size: Int64?
        public var name: String?
    }
    public struct Lesson: Sendable, Equatable, Decodable {
        public var video: File?
        public var captions: File?
        public var materials: [File]?
    }

    public var lessons: [String: Lesson]
    public var videoTemplate: String?
    public var captionsTemplate: String?

    /// From `source.media` in pipeline.yaml; `manifest` is relative to the project folder.
    public init(_ config: [String: JSONValue], projectDirectory: String) throws(ConnectorError) {
        lessons = [:]
        videoTemplate = config["video_url"]?.string
        captionsTemplate = config["captions_url"]?.string
        if let manifest = config["manifest"]?.string {
            let path = manifest.hasPrefix("/") ? manifest : projectDirectory + "/" + manifest
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConnectorError(.configuration, provider: "Hotmart", request: "", message: "the media manifest `\(path)` cannot be read")
            }
            do { lessons = try JSONDecoder().decode([String: Lesson].self, from: data) } catch {
                throw ConnectorError(.configuration, provider: "Hotmart", request: "",
                                     message: "the media manifest `\(path)` is not `{page_id: {video: {url, sha256?, size?}, captions?, materials?}}`: \(error)")
            }
        }
        guard !lessons.isEmpty || videoTemplate != nil else {
            throw ConnectorError(.configuration, provider: "Hotmart", request: "",
                                 message: "set `source.media.manifest` (a JSON file) or `source.media.video_url` (a template with {page_id})")
        }
    }

    func lesson(pageID: String, moduleID: String) -> Lesson {
        if let listed = lessons[pageID] { return listed }
        let fill = { (template: String) in
            File(url: template.replacingOccurrences(of: "{page_id}", with: pageID).replacingOccurrences(of: "{module_id}", with: moduleID))
        }
        return Lesson(video: videoTemplate.map(fill), captions: captionsTemplate.map(fill), materials: nil)
    }
}

/// A Hotmart members area as a source: modules and their pages (paginated, rate limits obeyed) become items
/// with stable ids (`hotmart/PAGE_ID`) and metadata; each lesson's files are downloaded into the store,
/// skipping unchanged ones. A catalog that suddenly shrinks by more than `maxShrink` (default half) is
/// refused: an empty answer must never read as "delete every lesson".
public struct HotmartSource: Source {
    public let context: ConnectorContext
    public let subdomain: String
    public let course: String
    public let media: HotmartMedia
    public var maxShrink: Double
    public var modulesPath: String
    public var pagesPath: String
    public var downloadConcurrency = 4

    public init(context: ConnectorContext, config: [String: JSONValue], projectDirectory: String) throws(ConnectorError) {
        guard let subdomain = config["subdomain"]?.string, !subdomain.isEmpty else {
            throw ConnectorError(.configuration, provider: "Hotmart", request: "", message: "set `source: { kind: hotmart, subdomain: CLUB }`")
        }
        self.context = context
        self.subdomain = subdomain
        course = config["course"]?.string ?? subdomain
        media = try HotmartMedia(config["media"]?.object ?? [:], projectDirectory: projectDirectory)
        maxShrink = config["max_shrink"]?.number ?? 0.5
        modulesPath = config["modules_path"]?.string ?? "/club/api/v1/modules"
        pagesPath = config["pages_path"]?.string ?? "/club/api/v1/modules/{module_id}/pages"
    }

    struct Page<Element: Decodable>: Decodable {
        struct Info: Decodable {
            var nextPageToken: String?
            enum CodingKeys: String, CodingKey { case nextPageToken = "next_page_token" }
        }
        var items: [Element]
        var pageInfo: Info?
        enum CodingKeys: String, CodingKey {
            case items
            case pageInfo = "page_info"
        }
    }

    struct Module: Decodable {
        var moduleID: String
        var name: String
        var sequence: Int?
        var isExtra: Bool?
        enum CodingKeys: String, CodingKey {
            case moduleID = "module_id"
            case name, sequence
            case isExtra = "is_extra"
        }
    }

    struct Lesson: Decodable {
        var pageID: String
        var name: String
        var type: String?
        var sequence: Int?
        enum CodingKeys: String, CodingKey {
            case pageID = "page_id"
            case name, type, sequence
        }
    }

    func api() throws(ConnectorError) -> (api: APIClient, base: String) {
        let token = try HotmartToken(environment: context.environment, session: context.httpSession, retry: context.retry, log: context.log)
        let api = APIClient(provider: "Hotmart", session: context.httpSession, retry: context.retry,
                            secrets: [token.clientSecret, token.basic], log: context.log,
                            authorize: { refresh throws(ConnectorError) in [("Authorization", "Bearer \(try await token.token(refresh: refresh).value)")] })
        return (api, context.environment.baseURL("ACERVO_HOTMART_API_URL", default: "https://developers.hotmart.com"))
    }

    /// Every element of a `page_token`-paginated list.
    private func all<Element: Decodable & Sendable>(_ api: APIClient, _ url: String, as: Element.Type) async throws(ConnectorError) -> [Element] {
        var elements: [Element] = []
        var token: String?
        var seen = Set<String>()
        repeat {
            var page = url + (url.contains("?") ? "&" : "?") + "max_results=50"
            if let token { page += "&page_token=" + formEncode(token) }
            let response = try await api.json(APIRequest("GET", page), as: Page<Element>.self)
            elements += response.items
            token = response.pageInfo?.nextPageToken.flatMap { $0.isEmpty || !seen.insert($0).inserted ? nil : $0 }
        } while token != nil
        return elements
    }

    public func items(store: Store) async throws -> [Item] {
        let (api, base) = try api()
        let club = "subdomain=" + formEncode(subdomain)
        let modules = try await all(api, "\(base)\(modulesPath)?\(club)", as: Module.self)
        var lessons: [(module: Module, lesson: Lesson)] = []
        for module in modules.sorted(by: { ($0.sequence ?? 0, $0.moduleID) < ($1.sequence ?? 0, $1.moduleID) }) {
            let path = pagesPath.replacingOccurrences(of: "{module_id}", with: module.moduleID)
            for lesson in try await all(api, "\(base)\(path)?\(club)", as: Lesson.self) { lessons.append((module, lesson)) }
        }
        try refuseSuddenShrink(to: lessons.count, store: store)
        let downloader = Downloader(
            api: APIClient(provider: "media", session: context.downloadSession, retry: context.retry, log: context.log), store: store)
        return try await withThrowingTaskGroup(of: Item.self) { group in
            var pending = lessons.makeIterator()
            var items: [Item] = []
            func startNext() {
                guard let next = pending.next() else { return }
                group.addTask { await item(next.module, next.lesson, downloader: downloader, store: store) }
            }
            for _ in 0..<downloadConcurrency { startNext() }
            while let item = try await group.next() {
                items.append(item)
                startNext()
            }
            return items
        }
    }

    private func refuseSuddenShrink(to count: Int, store: Store) throws {
        guard let previous = try SnapshotManifest.latest(in: store)?.entries.filter({ $0.itemID.hasPrefix("hotmart/") }).count,
              previous > 0 else { return }
        if Double(previous - count) > Double(previous) * maxShrink {
            throw ConnectorError(.failed, provider: "Hotmart", request: "GET \(modulesPath)",
                                 message: "the catalog shrank from \(previous) to \(count) lessons; if that is intended, raise `source.max_shrink` (now \(maxShrink))")
        }
    }

    /// One lesson: metadata from the catalog, files from the media configuration. A file that cannot be
    /// fetched fails this item only (its previous document stays in the knowledge base).
    private func item(_ module: Module, _ lesson: Lesson, downloader: Downloader, store: Store) async -> Item {
        var metadata: [String: JSONValue] = [
            "title": .string(lesson.name), "lesson": .string(lesson.name), "module": .string(module.name), "course": .string(course),
            "page_id": .string(lesson.pageID), "module_id": .string(module.moduleID),
        ]
        if let sequence = lesson.sequence { metadata["sequence"] = .number(Double(sequence)) }
        if let type = lesson.type { metadata["hotmart_type"] = .string(type) }
        let id = "hotmart/\(lesson.pageID)"
        let files = media.lesson(pageID: lesson.pageID, moduleID: module.moduleID)
        do {
            var artifacts: [String: Digest] = [:]
            if let video = files.video { artifacts["video"] = try await fetch(video, downloader) }
            if let captions = files.captions { artifacts["captions"] = try await fetch(captions, downloader) }
            if let materials = files.materials, !materials.isEmpty {
                var entries: [TreeEntry] = []
                for (index, file) in materials.enumerated() {
                    let digest = try await fetch(file, downloader)
                    let name = file.name ?? URL(string: file.url)?.lastPathComponent ?? "material-\(index + 1)"
                    entries.append(TreeEntry(name: name, digest: digest, size: store.blobs.size(of: digest) ?? 0))
                }
                artifacts["materials"] = try store.putTree(entries)
            }
            return Item(id: id, metadata: metadata, artifacts: artifacts)
        } catch {
            return Item(id: id, metadata: metadata, artifacts: [:], detectionError: "\(error)")
        }
    }

    private func fetch(_ file: HotmartMedia.File, _ downloader: Downloader) async throws -> Digest {
        let expected = try file.sha256.map { try Digest(parsing: $0.hasPrefix("sha256:") ? $0 : "sha256:" + $0) }
        return try await downloader.fetch(file.url, expectedDigest: expected, expectedSize: file.size).digest
    }
}
