import Foundation

/// One member of a tree blob: a directory of outputs such as a lesson's keyframes.
public struct TreeEntry: Sendable, Codable, Equatable {
    public var name: String
    public var digest: Digest
    public var size: Int64

    public init(name: String, digest: Digest, size: Int64) {
        self.name = name
        self.digest = digest
        self.size = size
    }
}

extension Store {
    /// Stores a tree as canonical JSON (entries sorted by name, sorted keys, no whitespace) so the same set of
    /// members always has the same digest, and records its children so gc and fsck can follow it.
    @discardableResult
    public func putTree(_ entries: [TreeEntry]) throws(StoreError) -> Digest {
        let sorted = entries.sorted { $0.name < $1.name }
        let bytes = Array(try! JSONEncoder.canonical.encode(sorted))
        let outcome = try put(bytes: bytes)
        try link(parent: outcome.digest, children: sorted.map(\.digest))
        return outcome.digest
    }

    public func tree(_ digest: Digest) throws -> [TreeEntry] {
        try JSONDecoder().decode([TreeEntry].self, from: Data(try blobs.bytes(of: digest)))
    }

    /// Records that `parent` (a tree, a snapshot manifest) refers to `children`: whatever keeps the parent
    /// keeps them, and fsck reports a parent whose child is gone.
    public func link(parent: Digest, children: [Digest]) throws(StoreError) {
        try database.write { db in
            for child in Set(children) {
                try db.execute(sql: "INSERT OR IGNORE INTO blob_links (parent, child) VALUES (?, ?)",
                               arguments: [parent.description, child.description])
            }
        }
    }
}
