import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation

/// Where a lesson's files are: Hotmart's API describes the catalog but does not hand out videos, so the
/// media come from configuration — a manifest (JSON: page id → `video`, `captions`, `materials`, with
/// optional `sha256`/`size` per file) or URL templates with `{page_id}`, `{module_id}`.
public struct HotmartMedia: Sendable, Equatable {
    public struct File: Sendable, Equatable, Decodable {
        public var url: String
        public var sha256: String?
        public var size: Int64?
        public var name: String?

        /// What a person calls the file: its name, else the last part of its URL (never the query, which may
        /// hold a signed token).
        var shownName: String { name ?? URLComponents(string: url)?.path.split(separator: "/").last.map(String.init) ?? "the file" }
    }
    public struct Lesson: Sendable, Equatable, Decodable {
        public var video: File?
        public var captions: File?
        public var materials: [File]?
    }

    public var lessons: [String: Lesson]
    public var videoTemplate: String?
    public var captionsTemplate: String?

    /// Reads the manifest named by the settings (relative to the project folder).
    public init(_ settings: HotmartMediaSettings, projectDirectory: String) throws(SourceError) {
        lessons = [:]
        videoTemplate = settings.videoURL
        captionsTemplate = settings.captionsURL
        if let manifest = settings.manifest {
            let path = manifest.hasPrefix("/") ? manifest : projectDirectory + "/" + manifest
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SourceError("the Hotmart media manifest `\(path)` cannot be read; check `source.media.manifest`")
            }
            do { lessons = try JSONDecoder().decode([String: Lesson].self, from: data) } catch {
                throw SourceError("the Hotmart media manifest `\(path)` is not `{page_id: {video: {url, sha256?, size?}, captions?, materials?}}`: \(error)")
            }
        }
    }

    /// A lesson's files: listed in the manifest, else filled into the templates (ids URL-encoded).
    func lesson(pageID: String, moduleID: String) -> Lesson {
        if let listed = lessons[pageID] { return listed }
        let fill = { (template: String) in
            File(url: template.replacingOccurrences(of: "{page_id}", with: pathSegmentEncode(pageID))
                .replacingOccurrences(of: "{module_id}", with: pathSegmentEncode(moduleID)))
        }
        return Lesson(video: videoTemplate.map(fill), captions: captionsTemplate.map(fill), materials: nil)
    }
}

/// A Hotmart members area as a source: modules and their pages become items with stable ids
/// (`hotmart/PAGE_ID`) and metadata; each lesson's files are downloaded into the store, skipping unchanged
/// ones. A catalog that suddenly shrinks by more than `maxShrink` is refused: an empty answer must never
/// read as "delete every lesson".
public struct HotmartSource: Source {
    public let context: ConnectorContext
    public let settings: HotmartSettings
    public let media: HotmartMedia
    public var downloadConcurrency = 4

    public init(context: ConnectorContext, settings: HotmartSettings, projectDirectory: String) throws(SourceError) {
        self.context = context
        self.settings = settings
        media = try HotmartMedia(settings.media, projectDirectory: projectDirectory)
    }

    public func items(store: Store) async throws -> [Item] {
        let client = try HotmartClient(context: context)
        let modules = try await client.modules(subdomain: settings.subdomain, path: settings.modulesPath)
        var lessons: [(module: HotmartClient.Module, page: HotmartClient.Page)] = []
        for module in modules.sorted(by: { ($0.sequence ?? 0, $0.moduleID) < ($1.sequence ?? 0, $1.moduleID) }) {
            for page in try await client.pages(subdomain: settings.subdomain, module: module.moduleID, pathTemplate: settings.pagesPath) {
                lessons.append((module, page))
            }
        }
        try await refuseSuddenShrink(to: lessons.count, store: store)
        let downloader = Downloader(
            api: APIClient(provider: "media", session: context.downloadSession, retry: context.retry, log: context.log), store: store)
        return try await withThrowingTaskGroup(of: Item.self) { group in
            var pending = lessons.makeIterator()
            var items: [Item] = []
            func startNext() {
                guard let next = pending.next() else { return }
                group.addTask { await item(next.module, next.page, downloader: downloader, store: store) }
            }
            for _ in 0..<downloadConcurrency { startNext() }
            while let item = try await group.next() {
                items.append(item)
                startNext()
            }
            return items
        }
    }

    private func refuseSuddenShrink(to count: Int, store: Store) async throws {
        guard let previous = try await SnapshotManifest.latest(in: store)?.entries.filter({ $0.itemID.hasPrefix("hotmart/") }).count,
              previous > 0 else { return }
        if Double(previous - count) > Double(previous) * settings.maxShrink {
            throw CatalogShrank(source: "Hotmart GET \(settings.modulesPath)", previous: previous, current: count, maxShrink: settings.maxShrink)
        }
    }

    /// One lesson: metadata from the catalog, files from the media configuration. A file that cannot be
    /// fetched fails this item only (its previous document stays in the knowledge base).
    private func item(_ module: HotmartClient.Module, _ lesson: HotmartClient.Page, downloader: Downloader, store: Store) async -> Item {
        var metadata: [String: JSONValue] = [
            "title": .string(lesson.name), "lesson": .string(lesson.name), "module": .string(module.name), "course": .string(settings.course),
            "page_id": .string(lesson.pageID), "module_id": .string(module.moduleID),
        ]
        if let sequence = lesson.sequence { metadata["sequence"] = .number(Double(sequence)) }
        if let type = lesson.type { metadata["hotmart_type"] = .string(type) }
        // The page id is the catalog's: encoded, so that whatever it holds (`../`, a newline) it stays one part
        // of the id. Hotmart's own ids (letters and digits) are unchanged by it.
        let id = "hotmart/" + pathSegmentEncode(lesson.pageID)
        let files = media.lesson(pageID: lesson.pageID, moduleID: module.moduleID)
        do {
            var artifacts: [String: Digest] = [:]
            var names: [String: String] = [:]
            if let video = files.video {
                artifacts["video"] = try await fetch(video, downloader)
                names["video"] = video.shownName
            }
            if let captions = files.captions {
                artifacts["captions"] = try await fetch(captions, downloader)
                names["captions"] = captions.shownName
            }
            if let materials = files.materials, !materials.isEmpty {
                var entries: [TreeEntry] = []
                for (index, file) in materials.enumerated() {
                    let digest = try await fetch(file, downloader)
                    let name = file.name ?? URL(string: file.url)?.lastPathComponent ?? "material-\(index + 1)"
                    entries.append(TreeEntry(name: name, digest: digest, size: await store.blobs.size(of: digest) ?? 0))
                }
                artifacts["materials"] = try await store.putTree(entries)
            }
            return Item(id: id, metadata: metadata, artifacts: artifacts, sourceNames: names)
        } catch {
            return Item(id: id, metadata: metadata, artifacts: [:], detectionError: "\(error)")
        }
    }

    private func fetch(_ file: HotmartMedia.File, _ downloader: Downloader) async throws -> Digest {
        let expected = try file.sha256.map { try Digest(parsing: $0.hasPrefix("sha256:") ? $0 : "sha256:" + $0) }
        return try await downloader.fetch(file.url, expectedDigest: expected, expectedSize: file.size).digest
    }
}
