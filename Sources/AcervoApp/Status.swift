import AcervoEngine
import AcervoStore
import Foundation

/// The state of a store at a glance: `acervo status`, the dashboard's overview.
public struct StatusReport: Sendable, Encodable {
    /// Who holds the store's lock (a build, a sync, gc), or nil.
    public var buildRunning: String?
    public var lastRun: Run?
    public var knowledgeBase: SnapshotInfo?
    public var cache: CacheStatistics.Row
}

extension Workspace {
    /// Reads the state without taking the store lock — a build starting at this instant is never refused
    /// because someone looked — and without visiting every object: the cache's figures are aggregates.
    public func status() async throws -> StatusReport {
        let store = try await store()
        return try await classified {
            let running: String? = if let root = store.root { await StoreLock.holder(storeRoot: root) } else { nil }
            return StatusReport(buildRunning: running, lastRun: try await store.journal.runs(limit: 1).first,
                                knowledgeBase: try await Self.latestSnapshot(in: store), cache: try await store.cacheStatistics().total)
        }
    }

    /// The newest snapshot (`kb/latest`) and its document count, or nil before the first build.
    public func latestSnapshot() async throws -> SnapshotInfo? {
        let store = try await store()
        return try await classified { try await Self.latestSnapshot(in: store) }
    }

    private static func latestSnapshot(in store: Store) async throws -> SnapshotInfo? {
        guard let latest = try await store.refs.ref(SnapshotManifest.latestRef) else { return nil }
        let manifest = try await SnapshotManifest.load(latest.digest, from: store)
        return SnapshotInfo(name: latest.name, digest: latest.digest, createdAt: latest.updatedAt, documents: manifest.entries.count)
    }
}

extension Workspace {
    /// Who holds the store's writer lock right now (`acervo build (pid 123) since …`), or nil; never waits.
    public func lockHolder() async throws -> String? {
        let store = try await store()
        guard let root = store.root else { return nil }
        return await StoreLock.holder(storeRoot: root)
    }
}
