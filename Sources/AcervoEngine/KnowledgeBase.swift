import AcervoStore
import Foundation
import Synchronization

/// A named snapshot: a ref and the manifest it points at.
public struct SnapshotInfo: Sendable, Codable, Equatable {
    public var name: String
    public var digest: Digest
    public var createdAt: Date
    public var documents: Int

    public init(name: String, digest: Digest, createdAt: Date, documents: Int) {
        self.name = name
        self.digest = digest
        self.createdAt = createdAt
        self.documents = documents
    }
}

/// What changed between two snapshots, item by item.
public struct SnapshotDiff: Sendable, Codable, Equatable {
    public struct Change: Sendable, Codable, Equatable {
        public var itemID: String
        /// `document`, `title`, `attributes` — what differs.
        public var fields: [String]
    }
    public var added: [String]
    public var removed: [String]
    public var changed: [Change]

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
}

/// Snapshots as a user sees them: list, show, diff, export, search.
/// How many documents each snapshot manifest holds, by its digest: a manifest never changes, so a count is
/// never stale.
public final class DocumentCounts: Sendable {
    private let counts = Mutex<[Digest: Int]>([:])
    public init() {}
    public subscript(digest: Digest) -> Int? {
        get { counts.withLock { $0[digest] } }
        set { counts.withLock { $0[digest] = newValue } }
    }
}

public struct KnowledgeBase: Sendable {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// Snapshots, newest first.
    /// Every snapshot ref with its document count. A manifest is read once however many refs name it (quiet
    /// nights share one), and not at all when `counts` already knows it (a long-running caller keeps one).
    public func list(counts: DocumentCounts = DocumentCounts()) async throws(StoreError) -> [SnapshotInfo] {
        var snapshots: [SnapshotInfo] = []
        for ref in try await store.refs.refs(prefix: Ref.snapshotPrefix) {
            let documents: Int
            if let known = counts[ref.digest] {
                documents = known
            } else {
                documents = try await SnapshotManifest.load(ref.digest, from: store).entries.count
                counts[ref.digest] = documents
            }
            snapshots.append(SnapshotInfo(name: ref.name, digest: ref.digest, createdAt: ref.updatedAt, documents: documents))
        }
        return snapshots
    }

    /// `latest` (or nothing), a ref name, a run id, a snapshot's unique digest prefix → its digest.
    public func resolve(_ name: String?) async throws(StoreError) -> Digest {
        let wanted = name ?? "latest"
        for candidate in [wanted, "kb/" + wanted, Ref.snapshotPrefix + wanted] {
            if let ref = try await store.refs.ref(candidate) { return ref.digest }
        }
        var snapshots = try await store.refs.refs(prefix: Ref.snapshotPrefix)
        if let latest = try await store.refs.ref(SnapshotManifest.latestRef) { snapshots.append(latest) }
        let byDigest = Set(snapshots.map(\.digest).filter { $0.description.hasPrefix(wanted) || $0.hex.hasPrefix(wanted) })
        guard byDigest.count == 1, let digest = byDigest.first else {
            throw StoreError.invalidArgument(
                byDigest.isEmpty ? "no snapshot `\(wanted)`; list them with `acervo kb list`" : "`\(wanted)` matches several snapshots; give more digits")
        }
        return digest
    }

    public func manifest(_ name: String?) async throws(StoreError) -> SnapshotManifest {
        try await SnapshotManifest.load(try await resolve(name), from: store)
    }

    public func diff(_ old: String, _ new: String) async throws(StoreError) -> SnapshotDiff {
        let before = Dictionary(try await manifest(old).entries.map { ($0.itemID, $0) }, uniquingKeysWith: { $1 })
        let after = Dictionary(try await manifest(new).entries.map { ($0.itemID, $0) }, uniquingKeysWith: { $1 })
        var changed: [SnapshotDiff.Change] = []
        for (id, entry) in after {
            guard let previous = before[id] else { continue }
            var fields: [String] = []
            if previous.document != entry.document { fields.append("document") }
            if previous.title != entry.title { fields.append("title") }
            if previous.attributes != entry.attributes { fields.append("attributes") }
            if !fields.isEmpty { changed.append(.init(itemID: id, fields: fields)) }
        }
        return SnapshotDiff(
            added: after.keys.filter { before[$0] == nil }.sorted(), removed: before.keys.filter { after[$0] == nil }.sorted(),
            changed: changed.sorted { $0.itemID < $1.itemID })
    }

    /// Writes each document as `DIRECTORY/<item id>.md` (each part of the id a safe file name: see
    /// `ExportReport.relativePath`) plus `manifest.json`. Each document is checked against its digest as it is
    /// read and written whole or not at all; one that cannot be written is reported and the rest still are.
    public func export(_ name: String?, to directory: String) async throws -> ExportReport {
        let manifest = try await manifest(name)
        var report = ExportReport()
        for entry in manifest.entries {
            let relative = ExportReport.relativePath(for: entry.itemID)
            let path = directory + "/" + relative
            do {
                let bytes = try await store.blobs.bytes(of: entry.document)
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
                report.written.append(.init(itemID: entry.itemID, path: relative))
            } catch {
                report.failures.append(.init(itemID: entry.itemID, path: relative, error: "\(error)"))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: directory + "/manifest.json"), options: .atomic)
        return report
    }

    /// One item's entry in a snapshot and its document's text, checked against its digest; nil when the snapshot
    /// does not have the item.
    public func document(item: String, snapshot name: String? = nil) async throws(StoreError) -> (entry: SnapshotEntry, text: String)? {
        guard let entry = try await manifest(name).entries.first(where: { $0.itemID == item }) else { return nil }
        return (entry, String(decoding: try await store.blobs.bytes(of: entry.document), as: UTF8.self))
    }

    /// Ranked matches in a snapshot's documents; the snapshot is indexed on first search.
    public func search(_ query: String, snapshot name: String? = nil, filters: [String: String] = [:], limit: Int = 10) async throws(StoreError) -> [SearchHit] {
        let parsed = try SearchQuery(query)
        let digest = try await resolve(name)
        if try await !store.searchIndex.isIndexed(digest) {
            let manifest = try await SnapshotManifest.load(digest, from: store)
            var documents: [SearchDocument] = []
            for entry in manifest.entries {
                documents.append(SearchDocument(item: entry.itemID, title: entry.title, attributes: entry.attributes,
                                                body: String(decoding: try await store.blobs.bytes(of: entry.document), as: UTF8.self)))
            }
            try await store.searchIndex.index(digest, documents: documents)
        }
        return try await store.searchIndex.search(digest, query: parsed, filters: filters, limit: limit)
    }
}

/// What `kb export` wrote, and what it could not.
public struct ExportReport: Sendable, Codable, Equatable {
    public struct File: Sendable, Codable, Equatable {
        public var itemID: String
        /// Relative to the export folder.
        public var path: String
    }
    public struct Failure: Sendable, Codable, Equatable {
        public var itemID: String
        public var path: String
        public var error: String
    }
    public var written: [File] = []
    public var failures: [Failure] = []

    /// The file an item's document goes to, always inside the export folder whatever the id: each `/`-separated
    /// part becomes one file name — `%` as `%25`, an empty part as `%`, `.` and `..` as `%2E` (so no part
    /// climbs out),
    /// and a part too long for a file name (255 bytes) cut at a character boundary and given the first
    /// 16 hex digits of its SHA-256, so different ids never share a file.
    public static func relativePath(for itemID: String) -> String {
        let parts = itemID.split(separator: "/", omittingEmptySubsequences: false)
        return parts.enumerated().map { index, part in
            fileName(String(part), suffix: index == parts.count - 1 ? ".md" : "")
        }.joined(separator: "/")
    }

    static let maximumNameBytes = 255

    static func fileName(_ part: String, suffix: String) -> String {
        var name = part.replacingOccurrences(of: "%", with: "%25")
        // A real name's `%` is `%25` here, so these codes cannot collide with one.
        if name.isEmpty { name = "%" } else if name == "." || name == ".." { name = String(repeating: "%2E", count: name.count) }
        guard name.utf8.count + suffix.utf8.count > maximumNameBytes else { return name + suffix }
        let tag = "-" + Digest.of(Array(part.utf8)).hex.prefix(16)
        var kept = ""
        for character in name {
            guard kept.utf8.count + String(character).utf8.count + tag.utf8.count + suffix.utf8.count <= maximumNameBytes else { break }
            kept.append(character)
        }
        return kept + tag + suffix
    }
}
