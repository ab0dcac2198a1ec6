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
    public var repaired = false

    public var isClean: Bool {
        corrupt.isEmpty && missingOutputs.isEmpty && danglingRefs.isEmpty && missingChildren.isEmpty && strays.isEmpty
    }

    /// Problems `--repair` cannot fix: a ref or tree whose blob is gone can only be rebuilt by the user.
    public var unrepairable: Bool {
        !danglingRefs.isEmpty || !missingChildren.isEmpty || !strays.isEmpty
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
            let (actual, bytes) = try await rehash(digest)
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

        for result in try await actionCache.results(processor: nil) {
            for (name, digest) in result.outputs.sorted(by: { $0.key < $1.key }) where !present.contains(digest) {
                report.missingOutputs.append(.init(key: result.key, processor: result.processor, output: name, digest: digest))
            }
        }
        for ref in try await refs.refs(prefix: nil) where !present.contains(ref.digest) {
            report.danglingRefs.append(.init(name: ref.name, digest: ref.digest))
        }
        for link in try await catalog.links() where present.contains(link.parent) && !present.contains(link.child) {
            report.missingChildren.append(.init(parent: link.parent, child: link.child))
        }

        guard repair else { return report }
        for index in report.corrupt.indices {
            report.corrupt[index].quarantinedTo = try await blobs.quarantine(report.corrupt[index].digest)
        }
        report.droppedResults = Array(Set(report.missingOutputs.map(\.key))).sorted()
        try await actionCache.removeResults(report.droppedResults)
        report.repaired = true
        return report
    }

    /// The digest the stored bytes actually have, and how many there are.
    func rehash(_ digest: Digest) async throws(StoreError) -> (Digest, Int64) {
        var hasher = SHA256()
        var count: Int64 = 0
        try await blobs.chunks(of: digest).forEach { chunk in
            hasher.update(data: chunk)
            count += Int64(chunk.count)
        }
        return (Digest(hasher.finalize()), count)
    }
}
