import Foundation

/// A name for a blob (`kb/latest`, `snapshots/RUN`, `hits/RUN`): the roots gc keeps.
public struct Ref: Sendable, Codable, Equatable {
    public var name: String
    public var digest: Digest
    public var updatedAt: Date

    public init(name: String, digest: Digest, updatedAt: Date) {
        self.name = name
        self.digest = digest
        self.updatedAt = updatedAt
    }

    /// Refs under this prefix are snapshots, subject to gc's `--keep-snapshots` policy.
    public static let snapshotPrefix = "snapshots/"
    /// Refs under this prefix name runs' hit lists.
    public static let hitListPrefix = "hits/"
}

/// A blob kept by gc whatever else happens, with the reason the user gave.
public struct Pin: Sendable, Codable, Equatable {
    public var digest: Digest
    public var note: String
    public var createdAt: Date

    public init(digest: Digest, note: String, createdAt: Date) {
        self.digest = digest
        self.note = note
        self.createdAt = createdAt
    }
}

/// What a remote URL held when last fetched: its validators (ETag, Last-Modified), size and digest. A
/// download first asks the server whether that is still current (`If-None-Match`); a 304 costs no transfer.
public struct DownloadRecord: Sendable, Equatable {
    public var url: String
    public var etag: String?
    public var lastModified: String?
    public var size: Int64
    public var digest: Digest

    public init(url: String, etag: String?, lastModified: String?, size: Int64, digest: Digest) {
        self.url = url
        self.etag = etag
        self.lastModified = lastModified
        self.size = size
        self.digest = digest
    }
}

/// Whether a blob is raw source media (a downloaded video, a course file) or something Acervo derived.
///
/// gc treats them differently: derived outputs were paid for, raw media can be fetched again and may be
/// dropped by age with `--drop-media-older-than`.
public enum BlobKind: String, Sendable, Codable {
    case media, derived
}

/// A media blob in the catalog, with when it entered the store.
public struct MediaBlob: Sendable, Equatable {
    public var digest: Digest
    public var createdAt: Date

    public init(digest: Digest, createdAt: Date) {
        self.digest = digest
        self.createdAt = createdAt
    }
}

/// `parent` (a tree, a snapshot manifest) refers to `child`: whatever keeps the parent keeps the child.
public struct BlobLink: Sendable, Hashable {
    public var parent: Digest
    public var child: Digest

    public init(parent: Digest, child: Digest) {
        self.parent = parent
        self.child = child
    }
}
