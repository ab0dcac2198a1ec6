import Foundation
import GRDB

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
        public var key: String
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
    public var droppedResults: [String] = []
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
    /// With `repair`, corrupt objects go to `quarantine/` and the results that needed a corrupt or missing blob
    /// are dropped. `progress` is called with (objects checked, objects in all).
    public func fsck(repair: Bool, progress: (Int, Int) -> Void = { _, _ in }) throws(StoreError) -> FsckReport {
        var report = FsckReport()
        let (digests, strays) = blobs.allObjects()
        report.strays = strays.sorted()
        var corrupt = Set<Digest>()
        for (index, digest) in digests.enumerated() {
            let path = blobs.path(of: digest)
            let hashed = try BlobStore.hash(fileAt: path)
            report.checkedObjects += 1
            report.checkedBytes += hashed.bytesRead
            if hashed.digest != digest {
                corrupt.insert(digest)
                report.corrupt.append(.init(digest: digest, actual: hashed.digest, path: path, quarantinedTo: nil))
            }
            progress(index + 1, digests.count)
        }
        let present = Set(digests).subtracting(corrupt)

        for result in try actionCache.all() {
            for (name, digest) in result.outputs.sorted(by: { $0.key < $1.key }) where !present.contains(digest) {
                report.missingOutputs.append(.init(key: result.key, processor: result.processor, output: name, digest: digest))
            }
        }
        for ref in try refs.all() where !present.contains(ref.digest) {
            report.danglingRefs.append(.init(name: ref.name, digest: ref.digest))
        }
        for (parent, child) in try links() where present.contains(parent) && !present.contains(child) {
            report.missingChildren.append(.init(parent: parent, child: child))
        }

        guard repair else { return report }
        for index in report.corrupt.indices {
            report.corrupt[index].quarantinedTo = try blobs.quarantine(report.corrupt[index].digest)
        }
        report.droppedResults = Array(Set(report.missingOutputs.map(\.key))).sorted()
        try actionCache.remove(keys: report.droppedResults)
        report.repaired = true
        return report
    }

    /// Every recorded (parent, child) pair of trees and manifests.
    func links() throws(StoreError) -> [(parent: Digest, child: Digest)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT parent, child FROM blob_links").map { row in
                (try Digest(parsing: row["parent"]), try Digest(parsing: row["child"]))
            }
        }
    }
}
