import AcervoStore
import Foundation

extension Workspace {
    /// Re-hashes every object and checks every result, ref and tree (`acervo fsck`); with `repair`, under the
    /// store lock, quarantines what is corrupt and drops the results that needed it.
    ///
    /// A damaged database (or one missing beside stored objects) is reported, not thrown; with `repair` it is
    /// rebuilt first (`Store.recoverDatabase`: salvaged rows, then what the objects give), then checked.
    public func fsck(repair: Bool, progress: @escaping (Int, Int) -> Void = { _, _ in }) async throws -> FsckReport {
        guard repair else {
            let store: Store
            do { store = try await Store.open(at: storePath) } catch .databaseDamaged(_, let message) {
                return FsckReport(database: message)
            } catch .databaseMissing {
                return FsckReport(database: "the database is missing or has no tables (a lost -wal file?), but objects/ holds blobs")
            } catch {
                throw AppError(error)
            }
            return try await classified { try await store.fsck(repair: false, progress: progress) }
        }
        // The lock is taken before the database is opened: a damaged one must not be touched by anyone else.
        let root = Store.absolute(storePath)
        let lock = try await classified { try await StoreLock.acquire(storeRoot: root, purpose: "acervo fsck --repair", wait: false) }
        defer { withExtendedLifetime(lock) {} }
        var recovery: DatabaseRecovery?
        if let problem = await Store.databaseProblem(at: root) {
            recovery = try await classified { try await Store.recoverDatabase(at: root, problem: problem) }
        }
        let store = try await store()
        var report = try await classified { try await store.fsck(repair: true, progress: progress) }
        report.recovery = recovery
        return report
    }

    /// Frees what no kept root reaches (`acervo gc`); a dry run unless `apply`. Holds the store lock.
    public func collectGarbage(policy: GCPolicy, apply: Bool, wait: Bool) async throws -> GCReport {
        if let keep = policy.keepSnapshots, keep < 0 { throw AppError.usage("--keep-snapshots must be 0 or more") }
        let store = try await store()
        return try await locked(store, purpose: "acervo gc", wait: wait) {
            try await store.collectGarbage(policy: policy, apply: apply)
        }
    }

    /// Stores a file (`acervo put`); `media` marks it raw media, which gc may drop by age.
    public func put(file: String, media: Bool) async throws -> PutOutcome {
        let store = try await store()
        return try await classified { try await store.ingest(fileAt: file, kind: media ? .media : .derived) }
    }

    /// Keeps a blob through every gc, with a note; `remove` releases it.
    public func pin(_ digest: Digest, note: String, remove: Bool) async throws {
        let store = try await store()
        try await classified {
            if remove {
                try await store.refs.unpin(digest)
            } else {
                guard await store.blobs.contains(digest) else { throw StoreError.unknownDigest(digest, store: store.location) }
                try await store.refs.pin(digest, note: note, at: Date())
            }
        }
    }
}
