import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation

/// A Hotmart members area as a source: modules and their pages become items with stable ids
/// (`hotmart/PAGE_ID`) and metadata. Hotmart's API lists the catalog but serves no video, so each lesson's
/// files are found by the media resolvers (`source.media`, tried in order) where the producer keeps them, and
/// brought into the store, skipping unchanged ones. A catalog that suddenly shrinks by more than `maxShrink` is
/// refused: an empty answer must never read as "delete every lesson".
public struct HotmartSource: Source {
    public let context: ConnectorContext
    public let settings: HotmartSettings
    /// Prepended to every item id (`hotmart/`).
    public let idPrefix: String
    let resolvers: [any MediaResolver]

    public init(context: ConnectorContext, settings: HotmartSettings, projectDirectory: String, idPrefix: String = "hotmart/") throws {
        self.context = context
        self.settings = settings
        self.idPrefix = idPrefix
        let vimeo = settings.media.lazy.compactMap { if case .vimeo(let vimeo) = $0 { vimeo } else { nil } }.first ?? VimeoSettings()
        let panda = settings.media.lazy.compactMap { if case .panda(let panda) = $0 { panda } else { nil } }.first ?? PandaSettings()
        resolvers = try settings.media.map { media throws -> any MediaResolver in
            switch media {
            case .manifest(let path): try ManifestResolver(path: path, projectDirectory: projectDirectory, context: context, vimeo: vimeo, panda: panda)
            case .template(let video, let captions): TemplateResolver(videoURL: video, captionsURL: captions)
            case .vimeo(let settings): try VimeoResolver(context: context, settings: settings)
            case .panda(let settings): try PandaResolver(context: context, settings: settings)
            case .hls(let template): HLSTemplateResolver(template: template, minimumHeight: vimeo.minimumHeight)
            case .folder(let path, let match): FolderResolver(path: path, projectDirectory: projectDirectory, minimumScore: match.minimumScore)
            }
        }
    }

    /// A page of the catalog with its module.
    struct Lesson: Sendable {
        var module: HotmartClient.Module
        var page: HotmartClient.Page
        /// Why the page comes from the last listing and not tonight's: the lesson fails and keeps its document.
        var unread: String?
        var catalog: CatalogPage { CatalogPage(pageID: page.pageID, title: page.name, moduleID: module.moduleID, moduleName: module.name) }
    }

    public func items(store: Store) async throws -> [Item] { try await detect(store: store).items }

    public func detect(store: Store) async throws -> Detection { try await detect(store: store, dry: false) }

    /// A plan's detection: files fetched before (their marker unchanged) and local files come from the store;
    /// a new or changed remote video is not fetched, only described (its duration from the host, or from
    /// ffprobe reading the head of its URL).
    public func survey(store: Store) async throws -> Detection { try await detect(store: store, dry: true) }

    func detect(store: Store, dry: Bool) async throws -> Detection {
        let lessons = try await catalog(store: store)
        try await refuseSuddenShrink(to: lessons.count, store: store)
        let resolution = await resolve(lessons)
        let skipped = zip(lessons, resolution).filter { lesson, found in
            if case .missing = found { Self.isNotALesson(lesson.page) } else { false }
        }
        var notes: [String] = []
        if !skipped.isEmpty {
            notes.append("Hotmart: \(skipped.count) \(skipped.count == 1 ? "page is" : "pages are") not a lesson (no video, or an advertisement, "
                         + "quiz or webinar with nothing found) and \(skipped.count == 1 ? "makes" : "make") no document: "
                         + skipped.map { "“\($0.0.page.name)” (\($0.0.page.type ?? "no type"))" }.joined(separator: ", "))
            notes.forEach(context.log)
        }
        let fetcher = MediaFetcher(downloader: Downloader(
            api: APIClient(provider: "media", session: context.downloadSession, retry: context.retry, log: context.log), store: store,
            onBytes: context.mediaBytes))
        let items = try await withThrowingTaskGroup(of: Item?.self) { group in
            var pending = zip(lessons, resolution).makeIterator()
            var items: [Item] = []
            func startNext() {
                guard let (lesson, found) = pending.next() else { return }
                group.addTask { await item(lesson, found, fetcher: fetcher, store: store, dry: dry) }
            }
            for _ in 0..<settings.downloadConcurrency { startNext() }
            while let item = try await group.next() {
                if let item { items.append(item) }
                startNext()
            }
            return items
        }
        return Detection(items: items, notes: notes)
    }

    /// Every page of every module, in Hotmart's order. A module whose page list cannot be read tonight — an
    /// error after the retries, a 200 with an empty or broken body, or no pages where the module says it has
    /// some, or where it had some last time — keeps the pages it listed last time, marked `unread`: those
    /// lessons fail and keep their documents, the other modules build. With no listing from before, the
    /// module's error is the source's.
    func catalog(store: Store? = nil) async throws -> [Lesson] {
        let client = try HotmartClient(context: context)
        let modules = try await client.modules(subdomain: settings.subdomain, path: settings.modulesPath)
        var lessons: [Lesson] = []
        let pagesPath = settings.pagesPath.replacingOccurrences(of: "{product_id}", with: pathSegmentEncode(settings.productID ?? ""))
        for module in modules.sorted(by: { ($0.sequence ?? 0, $0.moduleID) < ($1.sequence ?? 0, $1.moduleID) }) {
            var previous: [HotmartClient.Page]?
            if let store { previous = try await rememberedPages(of: module, in: store) }
            do {
                let pages = try await client.pages(subdomain: settings.subdomain, module: module.moduleID, pathTemplate: pagesPath)
                let expected = max(module.totalPages ?? 0, previous?.count ?? 0)
                if pages.isEmpty, expected > 0 {
                    throw SourceError("Hotmart listed no page for the module “\(module.name)”, which has \(expected) "
                                      + "(\(module.totalPages != nil ? "its total_pages says so" : "it had them last time")); an empty answer is not read as removals")
                }
                lessons += pages.map { Lesson(module: module, page: $0) }
                // On purpose: failing to remember tonight's listing loses only tomorrow's fallback, not tonight's build.
                if let store { try? await remember(pages, of: module, in: store) }
            } catch {
                guard let previous, !previous.isEmpty else { throw error }
                context.log("Hotmart: the module “\(module.name)” could not be listed (\(error)); its \(previous.count) lessons keep their documents")
                lessons += previous.map { Lesson(module: module, page: $0, unread: "\(error)") }
            }
        }
        return lessons
    }

    /// Where a module's last page list is remembered: a blob of its pages, named in the downloads table under a
    /// key no URL has. A listing collected by `gc` is simply not there: the module's error is then the source's.
    private func listingKey(_ module: HotmartClient.Module) -> String {
        "catalog:hotmart:\(settings.subdomain):\(settings.productID ?? ""):\(module.moduleID)"
    }

    private func rememberedPages(of module: HotmartClient.Module, in store: Store) async throws -> [HotmartClient.Page]? {
        guard let record = try await store.downloads.downloadRecord(for: listingKey(module)),
              let bytes = try? await store.blobs.bytes(of: record.digest) else { return nil }
        return try? JSONDecoder().decode([HotmartClient.Page].self, from: Data(bytes))
    }

    private func remember(_ pages: [HotmartClient.Page], of module: HotmartClient.Module, in store: Store) async throws {
        let bytes = Array(try JSONEncoder.canonical.encode(pages))
        let digest = try await store.put(bytes: bytes).digest
        try await store.downloads.rememberDownload(DownloadRecord(url: listingKey(module), etag: nil, lastModified: nil, size: Int64(bytes.count),
                                                                  digest: digest), at: Date())
    }

    /// What the resolvers found for each lesson: the first that knows it wins; when none does, why each did not.
    enum Found: Sendable {
        case media(LessonMedia, resolver: String, match: MatchOutcome)
        /// `candidates`: the videos a resolver could not choose between, when one could not.
        case missing(reasons: [String], candidates: [String])
    }

    func resolve(_ lessons: [Lesson]) async -> [Found] {
        let pages = lessons.map(\.catalog)
        // Each host's catalog is read once; a host that cannot be read leaves its lessons to the others.
        var unavailable: [Int: String] = [:]
        for (index, resolver) in resolvers.enumerated() {
            do { try await resolver.prepare(pages: pages) } catch { unavailable[index] = "\(resolver.kind): \(error)" }
        }
        var found: [Found] = []
        for page in pages {
            var reasons: [String] = []
            var candidates: [String] = []
            var answer: Found?
            for (index, resolver) in resolvers.enumerated() where answer == nil {
                if let reason = unavailable[index] {
                    reasons.append(reason)
                    continue
                }
                do {
                    switch try await resolver.resolve(page) {
                    case .found(let media, let match): answer = .media(media, resolver: resolver.kind, match: match)
                    case .ambiguous(let tied):
                        if candidates.isEmpty { candidates = tied }
                        reasons.append("\(resolver.kind): \(tied.count) videos fit equally well (\(tied.joined(separator: "; "))); "
                                       + "write the page id \(page.pageID) in the right one's description, or list it in a manifest")
                    case .notFound(let reason): reasons.append(reason)
                    }
                } catch {
                    reasons.append("\(resolver.kind): \(error)")
                }
            }
            found.append(answer ?? .missing(reasons: reasons, candidates: candidates))
        }
        return found
    }

    /// A page the catalog lists that is not a lesson to learn from: Hotmart says it has no media, or it is an
    /// advertisement, a quiz or a webinar — and no resolver found a video for it.
    static func isNotALesson(_ page: HotmartClient.Page) -> Bool {
        page.hasMedia == false || ["ADVERTISEMENT", "QUIZ", "WEBINAR", "SURVEY"].contains(page.type?.uppercased() ?? "")
    }

    /// Every page of the catalog and where its media were found (or why not), without fetching any: what
    /// `acervo media` prints and `--write-manifest` writes.
    public func mediaTable() async throws -> [MediaRow] {
        let lessons = try await catalog()
        return zip(lessons, await resolve(lessons)).map { lesson, found in
            var row = MediaRow(item: idPrefix + pathSegmentEncode(lesson.page.pageID), pageID: lesson.page.pageID, title: lesson.page.name,
                               module: lesson.module.name, status: .unmatched)
            switch found {
            case .media(let media, let resolver, let match):
                row.resolver = resolver
                row.status = .matched
                if case .matched(let candidate, let how, let score) = match {
                    (row.match, row.how, row.score) = (candidate, how, score)
                }
                row.video = media.video?.reference
                row.captions = media.captions?.reference
                row.durationSeconds = media.video?.durationSeconds
            case .missing(let reasons, let candidates):
                row.reasons = reasons
                row.candidates = candidates
                row.status = Self.isNotALesson(lesson.page) ? .notALesson : candidates.isEmpty ? .unmatched : .ambiguous
            }
            return row
        }
    }

    private func refuseSuddenShrink(to count: Int, store: Store) async throws {
        guard let previous = try await SnapshotManifest.latest(in: store)?.entries.filter({ $0.itemID.hasPrefix(idPrefix) }).count,
              previous > 0 else { return }
        if Double(previous - count) > Double(previous) * settings.maxShrink {
            throw CatalogShrank(source: "Hotmart GET \(settings.modulesPath)", previous: previous, current: count, maxShrink: settings.maxShrink)
        }
    }

    /// One lesson: metadata from the catalog, files from where the resolvers found them. A file that cannot be
    /// fetched, or a lesson whose video was not found, fails this item only (its previous document stays in
    /// the knowledge base).
    private func item(_ lesson: Lesson, _ found: Found, fetcher: MediaFetcher, store: Store, dry: Bool) async -> Item? {
        let (module, page) = (lesson.module, lesson.page)
        var metadata: [String: JSONValue] = [
            "title": .string(page.name), "lesson": .string(page.name), "module": .string(module.name), "course": .string(settings.course),
            "page_id": .string(page.pageID), "module_id": .string(module.moduleID),
        ]
        if let school = settings.school { metadata["school"] = .string(school) }
        if let sequence = page.sequence { metadata["sequence"] = .number(Double(sequence)) }
        if let type = page.type { metadata["hotmart_type"] = .string(type) }
        // The page id is the catalog's: encoded, so that whatever it holds (`../`, a newline) it stays one part
        // of the id. Hotmart's own ids (letters and digits) are unchanged by it.
        let id = idPrefix + pathSegmentEncode(page.pageID)
        if let unread = lesson.unread {
            return Item(id: id, metadata: metadata, artifacts: [:],
                        detectionError: "its module “\(module.name)” could not be listed tonight, so it keeps its document: \(unread)")
        }
        guard case .media(let files, let resolver, let match) = found else {
            guard case .missing(let reasons, _) = found else { return nil }
            if Self.isNotALesson(page) { return nil }
            return Item(id: id, metadata: metadata, artifacts: [:],
                        detectionError: "its video was not found: " + (reasons.isEmpty ? "no media resolver is configured" : reasons.joined(separator: "; ")))
        }
        if case .matched(let candidate, let how, let score) = match, how != "manifest", how != "template" {
            context.log("media: “\(page.name)” ← \(candidate) (\(resolver), by \(how), \(String(format: "%.2f", score)))")
        }
        do {
            var artifacts: [String: Digest] = [:]
            var names: [String: String] = [:]
            var unfetched: [String: UnfetchedArtifact] = [:]
            for (role, file) in [("video", files.video), ("captions", files.captions)] {
                guard let file else { continue }
                names[role] = file.name
                if dry, case .unfetched(let facts) = try await fetcher.survey(file, timed: role == "video") {
                    unfetched[role] = facts
                } else {
                    artifacts[role] = try await fetcher.fetch(file)
                }
            }
            if !files.materials.isEmpty {
                var entries: [TreeEntry] = []
                for file in files.materials {
                    if dry, case .unfetched = try await fetcher.survey(file, timed: false) {
                        unfetched["materials"] = UnfetchedArtifact()
                        break
                    }
                    let digest = try await fetcher.fetch(file)
                    entries.append(TreeEntry(name: file.name, digest: digest, size: await store.blobs.size(of: digest) ?? 0))
                }
                if unfetched["materials"] == nil { artifacts["materials"] = try await store.putTree(entries) }
            }
            return Item(id: id, metadata: metadata, artifacts: artifacts, sourceNames: names, unfetched: unfetched)
        } catch {
            return Item(id: id, metadata: metadata, artifacts: [:], detectionError: "\(error)")
        }
    }
}

/// One page of a Hotmart catalog and where its media are: `acervo media`'s table.
public struct MediaRow: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case matched, ambiguous, unmatched
        /// No media and none found: the page makes no document.
        case notALesson = "not a lesson"
    }

    /// The lesson's id in the knowledge base.
    public var item: String
    public var pageID: String
    public var title: String
    public var module: String
    public var status: Status
    /// `vimeo`, `panda`, `folder`, `manifest`, … — which resolver found it.
    public var resolver: String?
    /// The video it was paired with, how (`id`, `title`, `title+module`, `manifest`) and how closely (0–1).
    public var match: String?
    public var how: String?
    public var score: Double?
    /// The videos that fit equally well, when it is ambiguous.
    public var candidates: [String] = []
    /// Why each resolver found nothing.
    public var reasons: [String] = []
    /// The files as a manifest names them.
    public var video: [String: String]?
    public var captions: [String: String]?
    /// What the host says of the video's length, when it says.
    public var durationSeconds: Double?

    public init(item: String, pageID: String, title: String, module: String, status: Status) {
        self.item = item
        self.pageID = pageID
        self.title = title
        self.module = module
        self.status = status
    }
}
