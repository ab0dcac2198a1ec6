import AcervoRules
import AcervoStore
import Foundation

/// One document of a knowledge base, with the attributes assistants filter on.
public struct SnapshotEntry: Sendable, Codable, Equatable {
    public var itemID: String
    public var title: String
    public var document: Digest
    public var attributes: [String: String]
    /// True when tonight's build could not produce this item's document and the previous one was kept.
    public var kept: Bool

    public init(itemID: String, title: String, document: Digest, attributes: [String: String], kept: Bool = false) {
        self.itemID = itemID
        self.title = title
        self.document = document
        self.attributes = attributes
        self.kept = kept
    }
}

/// The exact set of documents a build produced. Stored as canonical JSON, so the same knowledge base always
/// has the same digest; the run that made it is recorded in the run's summary, not here.
public struct SnapshotManifest: Sendable, Codable, Equatable {
    public var version = 1
    public var entries: [SnapshotEntry]

    public init(entries: [SnapshotEntry]) {
        self.entries = entries.sorted { $0.itemID < $1.itemID }
    }

    /// The ref every build moves to its snapshot.
    public static let latestRef = Ref.latestSnapshot

    /// A stored manifest; bytes that are not one are an error naming the snapshot.
    public static func load(_ digest: Digest, from store: Store) async throws(StoreError) -> SnapshotManifest {
        try await store.decode(SnapshotManifest.self, digest, what: "snapshot manifest")
    }

    /// The manifest `kb/latest` points at; nil when no build has made one. One that cannot be read is an
    /// error, never "none".
    public static func latest(in store: Store) async throws(StoreError) -> SnapshotManifest? {
        guard let ref = try await store.refs.ref(latestRef) else { return nil }
        return try await load(ref.digest, from: store)
    }

    /// The newest snapshot that can still be read, for keeping tonight's failed lessons' documents: `kb/latest`,
    /// or — when its manifest was damaged on disk (and so quarantined) — the newest older snapshot that is
    /// whole, with a note saying which was used. A manifest whose bytes are sound but cannot be decoded is an
    /// error, as is finding no whole one when snapshots exist: either way reading it as "none" would silently
    /// drop every lesson that failed tonight.
    public static func previous(in store: Store) async throws(StoreError) -> (manifest: SnapshotManifest, note: String?)? {
        guard let latest = try await store.refs.ref(latestRef) else { return nil }
        var damaged: [String] = []
        var candidates = [latest]
        candidates += try await store.refs.refs(prefix: Ref.snapshotPrefix).sorted { $0.updatedAt > $1.updatedAt }
        for ref in candidates where !damaged.contains(ref.digest.description) {
            do {
                let manifest = try await load(ref.digest, from: store)
                let note = damaged.isEmpty ? nil
                    : "the latest snapshot \(latest.digest) is damaged on disk; lessons that failed tonight keep their documents from \(ref.name) (\(ref.digest))"
                return (manifest, note)
            } catch .corrupt, .unknownDigest {
                damaged.append(ref.digest.description)
            }
        }
        throw StoreError.invalidArgument(
            "the knowledge base's snapshots are damaged on disk (\(damaged.joined(separator: ", "))), so the lessons that failed tonight cannot keep "
                + "their previous documents and nothing was published; fix those lessons (see the failures) and build again, or run `acervo fsck --repair`")
    }

    /// Stores the manifest, links it to its documents (so gc keeps them), and names it.
    func save(in store: Store, runID: String) async throws(StoreError) -> Digest {
        let stored = try await store.putChecked(bytes: try JSONEncoder.canonicalBytes(self, what: "the snapshot manifest"))
        let digest = stored.digest
        // An unchanged knowledge base (a no-op build) has its links already.
        if stored.isNew { try await store.link(parent: digest, children: entries.map(\.document)) }
        try await store.refs.setRefs([(Ref.snapshotPrefix + runID, digest), (Self.latestRef, digest)], at: Date())
        return digest
    }
}

extension Item {
    /// String attributes for vector-store filtering: every scalar metadata field, plus the item id.
    var attributes: [String: String] {
        var attributes: [String: String] = ["item_id": id]
        for (name, value) in metadata {
            switch value {
            case .string(let text): attributes[name] = text
            case .number, .bool: attributes[name] = value.canonical
            default: break
            }
        }
        return attributes
    }

    var title: String { metadata["title"]?.string ?? id }
}
