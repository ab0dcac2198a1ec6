import AcervoApp
import AcervoEngine
import AcervoStore
import Foundation
import Synchronization

/// Snapshots read before: document counts (tiny, all kept) and the last few manifests (a lesson's page needs
/// the newest). A snapshot's digest is its content, so nothing here is ever stale — a thousand nights that
/// built the same knowledge base cost one read.
final class SnapshotMemo: Sendable {
    private let counts = Mutex<[Digest: Int]>([:])
    private let manifests = Mutex<[(digest: Digest, manifest: SnapshotManifest)]>([])

    func snapshots(_ workspace: Workspace) async throws -> [SnapshotInfo] {
        try await workspace.snapshots(knownCount: { digest in counts.withLock { $0[digest] } },
                                      remember: { digest, count in counts.withLock { $0[digest] = count } })
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
        if let known = manifests.withLock({ $0.first { $0.digest == digest }?.manifest }) { return known }
        let manifest = try await SnapshotManifest.load(digest, from: store)
        manifests.withLock { recent in
            recent.insert((digest, manifest), at: 0)
            if recent.count > 2 { recent.removeLast() }
        }
        return manifest
    }
}
