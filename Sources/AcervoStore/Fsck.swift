import Crypto
import Foundation

/// What `acervo fsck` found, and with `--repair` what it did about it.
public struct FsckReport: Sendable, Codable, Equatable {
    public struct CorruptObject: Sendable, Codable, Equatable {
        public var digest: Digest
        /// The digest the bytes actually have.
        public var actual: Digest
        public var path: String
        public var quarantinedTo: String?
    }
    public struct MissingOutput: Sendable, Codable, Equatable {
        public var key: ActionKey
        public var processor: String
        public var output: String
        public var digest: Digest
    }
    public struct DanglingRef: Sendable, Codable, Equatable {
        public var name: String
        public var digest: Digest
    }
    public struct MissingChild: Sendable, Codable, Equatable {
        public var parent: Digest
        public var child: Digest
        /// Whether something still needs the parent after repair: a ref (a snapshot) or a pin. A tree only
        /// results needed is fixed by dropping them; a tree nothing needs (half of a gc) is removed.
        public var stillNeeded = true
    }

    public var checkedObjects = 0
    public var checkedBytes: Int64 = 0
    public var corrupt: [CorruptObject] = []
    public var missingOutputs: [MissingOutput] = []
    public var danglingRefs: [DanglingRef] = []
    public var missingChildren: [MissingChild] = []
    /// Files under `objects/` whose names are not digests.
    public var strays: [String] = []
    /// Results dropped by `--repair`, so the next build recomputes exactly these.
    public var droppedResults: [ActionKey] = []
    /// Trees with a missing member that nothing needed any more (what a gc killed while deleting leaves),
    /// removed by `--repair`.
    public var removedTrees: [Digest] = []
    public var repaired = false
    /// The build (or gc) that held the store while fsck ran, if one did: fsck checked the state as of its
    /// start, and what that writer commits afterwards is checked next time.
    public var writerRunning: String?
    /// What is wrong with the database itself (damaged, or missing beside stored objects); `--repair`
    /// rebuilds it (`recovery` says how).
    public var database: String?
    public var recovery: DatabaseRecovery?

    public init() {}

    /// The report on a store whose database cannot be opened: only that.
    public init(database problem: String) {
        database = problem
    }

    public var isClean: Bool {
        database == nil && corrupt.isEmpty && missingOutputs.isEmpty && danglingRefs.isEmpty && missingChildren.isEmpty && strays.isEmpty
    }

    /// Problems `--repair` cannot fix: a ref whose blob is gone, or a snapshot or pinned tree missing a
    /// member, can only be rebuilt by the user.
    public var unrepairable: Bool {
        !danglingRefs.isEmpty || missingChildren.contains(where: \.stillNeeded) || !strays.isEmpty
    }
}

extension Store {
    /// Re-hashes every object and checks that every result's outputs, every ref and every tree member exist.
    /// With `repair`, corrupt objects go to quarantine and the results that needed a corrupt or missing blob
    /// are dropped. `progress` is called with (objects checked, objects in all).
    ///
    /// The metadata is read first, at one moment, and the objects listed after: objects are durable before
    /// the results that name them are committed, so a build running meanwhile cannot make a result look as
    /// if its blob were missing. Without `repair`, a running writer is named in the report.
    public func fsck(repair: Bool, progress: (Int, Int) -> Void = { _, _ in }) async throws(StoreError) -> FsckReport {
        var report = FsckReport()
        if !repair, let root { report.writerRunning = await StoreLock.holder(storeRoot: root) }
        report.database = await metadata.integrityProblem()
        if report.database != nil { return report }
        let snapshot = try await metadata.consistentSnapshot()
        let inventory = try await blobs.inventory()
        report.strays = inventory.strays.sorted()
        var corrupt = Set<Digest>()
        for (index, digest) in inventory.digests.enumerated() {
            let (actual, bytes) = try await blobs.rehash(digest)
            report.checkedObjects += 1
            report.checkedBytes += bytes
            if actual != digest {
                corrupt.insert(digest)
                report.corrupt.append(.init(digest: digest, actual: actual, path: await blobs.info(digest)?.location ?? digest.description,
                                            quarantinedTo: nil))
            }
            progress(index + 1, inventory.digests.count)
        }
        let present = Set(inventory.digests).subtracting(corrupt)

        let results = snapshot.results.sorted { $0.key < $1.key }
        for result in results {
            for (name, digest) in result.outputs.sorted(by: { $0.key < $1.key }) where !present.contains(digest) {
                report.missingOutputs.append(.init(key: result.key, processor: result.processor, output: name, digest: digest))
            }
        }
        let allRefs = snapshot.refs
        for ref in allRefs where !present.contains(ref.digest) {
            report.danglingRefs.append(.init(name: ref.name, digest: ref.digest))
        }
        let links = snapshot.links
        for link in links where present.contains(link.parent) && !present.contains(link.child) {
            report.missingChildren.append(.init(parent: link.parent, child: link.child))
        }
        report.missingChildren.sort { ($0.parent, $0.child) < ($1.parent, $1.child) }

        // What still needs each broken tree once the results that needed a broken blob are dropped: refs and
        // pins (and what they reach) only.
        let brokenTrees = Set(report.missingChildren.map(\.parent))
        let dropped = Set(report.missingOutputs.map(\.key)).union(results.filter { $0.outputs.values.contains(where: brokenTrees.contains) }.map(\.key))
        var roots = Set(allRefs.map(\.digest)).union(snapshot.pins.map(\.digest))
        for result in results where !dropped.contains(result.key) { roots.formUnion(result.outputs.values) }
        let needed = closure(of: roots, links: links)
        for index in report.missingChildren.indices { report.missingChildren[index].stillNeeded = needed.contains(report.missingChildren[index].parent) }

        guard repair else { return report }
        for index in report.corrupt.indices {
            report.corrupt[index].quarantinedTo = try await blobs.quarantine(report.corrupt[index].digest)
        }
        report.droppedResults = dropped.sorted()
        try await actionCache.removeResults(report.droppedResults)
        hitListTotals.withLock { $0.removeAll() }
        // Finish what a killed gc began: a broken tree nothing needs is garbage.
        report.removedTrees = brokenTrees.subtracting(needed).sorted()
        for tree in report.removedTrees { try await blobs.remove(tree) }
        try await catalog.forgetBlobs(Set(report.removedTrees))
        report.repaired = true
        return report
    }

    /// What is wrong with the database of the store folder at `path` — missing or empty beside stored
    /// objects, unreadable, or failing SQLite's check — or nil when it is sound. Opens nothing for writing.
    public static func databaseProblem(at path: String) async -> String? {
        do {
            let store = try await open(at: path)
            return await store.metadata.integrityProblem()
        } catch .databaseMissing {
            return "the database is missing or has no tables (a lost -wal file?), but objects/ holds blobs"
        } catch .databaseDamaged(_, let message) {
            return message
        } catch {
            return nil
        }
    }
}
