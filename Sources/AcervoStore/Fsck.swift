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

    public var isClean: Bool {
        corrupt.isEmpty && missingOutputs.isEmpty && danglingRefs.isEmpty && missingChildren.isEmpty && strays.isEmpty
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
    public func fsck(repair: Bool, progress: (Int, Int) -> Void = { _, _ in }) async throws(StoreError) -> FsckReport {
        var report = FsckReport()
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

        let results = try await actionCache.results(processor: nil)
        for result in results {
            for (name, digest) in result.outputs.sorted(by: { $0.key < $1.key }) where !present.contains(digest) {
                report.missingOutputs.append(.init(key: result.key, processor: result.processor, output: name, digest: digest))
            }
        }
        let allRefs = try await refs.refs(prefix: nil)
        for ref in allRefs where !present.contains(ref.digest) {
            report.danglingRefs.append(.init(name: ref.name, digest: ref.digest))
        }
        let links = try await catalog.links()
        for link in links where present.contains(link.parent) && !present.contains(link.child) {
            report.missingChildren.append(.init(parent: link.parent, child: link.child))
        }
        report.missingChildren.sort { ($0.parent, $0.child) < ($1.parent, $1.child) }

        // What still needs each broken tree once the results that needed a broken blob are dropped: refs and
        // pins (and what they reach) only.
        let brokenTrees = Set(report.missingChildren.map(\.parent))
        let dropped = Set(report.missingOutputs.map(\.key)).union(results.filter { $0.outputs.values.contains(where: brokenTrees.contains) }.map(\.key))
        var roots = Set(allRefs.map(\.digest)).union(try await refs.pins().map(\.digest))
        for result in results where !dropped.contains(result.key) { roots.formUnion(result.outputs.values) }
        let needed = closure(of: roots, links: links)
        for index in report.missingChildren.indices { report.missingChildren[index].stillNeeded = needed.contains(report.missingChildren[index].parent) }

        guard repair else { return report }
        for index in report.corrupt.indices {
            report.corrupt[index].quarantinedTo = try await blobs.quarantine(report.corrupt[index].digest)
        }
        report.droppedResults = dropped.sorted()
        try await actionCache.removeResults(report.droppedResults)
        // Finish what a killed gc began: a broken tree nothing needs is garbage.
        report.removedTrees = brokenTrees.subtracting(needed).sorted()
        for tree in report.removedTrees { try await blobs.remove(tree) }
        try await catalog.forgetBlobs(Set(report.removedTrees))
        report.repaired = true
        return report
    }
}
