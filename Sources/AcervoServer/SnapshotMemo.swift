import AcervoApp
import AcervoEngine
import AcervoStore
import Foundation

/// Snapshots read before: document counts (tiny, all kept) and the last few manifests (a lesson's page needs
/// the newest). A snapshot's digest is its content, so nothing here is ever stale — a thousand nights that
/// built the same knowledge base cost one read.
final class SnapshotMemo: Sendable {
    private let counts = DocumentCounts()
    private let manifests = RecentlyUsed<Digest, SnapshotManifest>(capacity: 2)

    func snapshots(_ workspace: Workspace) async throws -> [SnapshotInfo] {
        try await workspace.knowledgeBase { [counts] in try await $0.list(counts: counts) }
    }

    /// The newest snapshot's entry for `item` and its document's text.
    func document(item: String, in workspace: Workspace) async throws -> (entry: SnapshotEntry, text: String)? {
        let manifest = try await latest(workspace)
        guard let entry = manifest?.entries.first(where: { $0.itemID == item }) else { return nil }
        let bytes = try await workspace.knowledgeBase { try await $0.store.blobs.bytes(of: entry.document) }
        return (entry, String(decoding: bytes, as: UTF8.self))
    }

    private func latest(_ workspace: Workspace) async throws -> SnapshotManifest? {
        let store = try await workspace.store()
        guard let digest = try await store.refs.ref(SnapshotManifest.latestRef)?.digest else { return nil }
        return try await manifests.value(for: digest) { try await SnapshotManifest.load(digest, from: store) }
    }
}
