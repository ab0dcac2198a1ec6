import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What identifies a local file's content without reading it: (device, inode, size, mtime, ctime).
///
/// ctime is part of the identity because `touch -d` can restore an mtime but nothing can restore a ctime.
public struct StatIdentity: Sendable, Hashable {
    public var device: Int64
    public var inode: Int64
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var ctimeNanoseconds: Int64

    public init(device: Int64, inode: Int64, size: Int64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeNanoseconds = ctimeNanoseconds
    }

    init(_ info: stat) {
        device = Int64(bitPattern: UInt64(info.st_dev))
        inode = Int64(bitPattern: UInt64(info.st_ino))
        size = Int64(info.st_size)
        mtimeNanoseconds = info.modificationNanoseconds
        ctimeNanoseconds = info.changeNanoseconds
    }

    /// A change this close (in nanoseconds) before hashing started could share a timestamp tick with a later
    /// write, so the entry is not trusted: the file is simply hashed again next time.
    static let racyWindowNanoseconds: Int64 = 100_000_000

    /// Whether an entry for a file hashed between `started` and now may be trusted: the file did not change
    /// while it was hashed, and was last changed well before hashing began — a write landing in the same
    /// timestamp tick as our `stat` would otherwise be invisible (git's "racy clean" problem).
    static func isStable(before: StatIdentity, after: StatIdentity, hashingStartedAt started: Int64) -> Bool {
        before == after && max(after.mtimeNanoseconds, after.ctimeNanoseconds) < started - racyWindowNanoseconds
    }
}

/// A stat cache entry: a file's identity when it was hashed, and the digest.
public struct StatEntry: Sendable, Equatable {
    public var identity: StatIdentity
    public var digest: Digest

    public init(identity: StatIdentity, digest: Digest) {
        self.identity = identity
        self.digest = digest
    }
}

/// The stat cache in memory, shared by one `Store`: every entry is read in one query the first time a file is
/// looked up — detection stats thousands of files, and one query per file would dominate a no-op build.
/// Entries are checked against the file's identity before use, so one another process replaced meanwhile is
/// at worst a miss.
final class StatCacheMemory: Sendable {
    private let state = Mutex<[String: StatEntry]?>(nil)

    func entry(_ path: String, loading backend: any StatCache) async throws(StoreError) -> StatEntry? {
        if let loaded = state.withLock({ $0 }) { return loaded[path] }
        let loaded = try await backend.statEntries()
        return state.withLock { current in
            if current == nil { current = loaded }
            return current![path]
        }
    }

    func set(_ path: String, _ entry: StatEntry?) {
        state.withLock { entries in entries?[path] = entry }
    }
}

/// Wall-clock time in nanoseconds, the unit of file timestamps.
func nowNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
