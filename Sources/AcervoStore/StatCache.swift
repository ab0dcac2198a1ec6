import Foundation
import GRDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// (device, inode, size, mtime, ctime) → digest, so an unchanged local file is never read again.
///
/// ctime is part of the identity because `touch -d` can restore an mtime but nothing can restore a ctime.
/// An entry is only written when the file did not change while it was hashed and was last changed well
/// before hashing began: a write landing in the same timestamp tick as our `stat` would otherwise be
/// invisible (git's "racy clean" problem).
public struct StatCache: Sendable {
    let database: MetadataDatabase
    /// Every entry, read in one query the first time a store looks one up: detection stats thousands of
    /// files, and one query per file would dominate a no-op build. Entries are checked against the file's
    /// identity before use, so an entry another process replaced meanwhile is at worst a miss.
    let memory: StatCacheMemory

    /// A change this close (in nanoseconds) before hashing started could share a timestamp tick with a later
    /// write, so the entry is not trusted: the file is simply hashed again next time.
    static let racyWindowNanoseconds: Int64 = 100_000_000

    struct Identity: Equatable {
        let device: Int64
        let inode: Int64
        let size: Int64
        let mtime: Int64
        let ctime: Int64

        init(_ info: stat) {
            device = Int64(bitPattern: UInt64(info.st_dev))
            inode = Int64(bitPattern: UInt64(info.st_ino))
            size = Int64(info.st_size)
            mtime = info.modificationNanoseconds
            ctime = info.changeNanoseconds
        }
    }

    func digest(forPath path: String, identity: Identity) throws(StoreError) -> Digest? {
        let entries = try memory.entries(loading: database)
        guard let entry = entries[path], entry.identity == identity else { return nil }
        return entry.digest
    }

    func record(path: String, identity: Identity, digest: Digest) throws(StoreError) {
        memory.set(path, (identity, digest))
        try database.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO stat_cache (path, device, inode, size, mtime_ns, ctime_ns, digest)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [path, identity.device, identity.inode, identity.size, identity.mtime, identity.ctime, digest.description])
        }
    }

    func forget(path: String) throws(StoreError) {
        memory.set(path, nil)
        try database.write { db in try db.execute(sql: "DELETE FROM stat_cache WHERE path = ?", arguments: [path]) }
    }

    /// Whether an entry for a file hashed between `started` and now may be trusted.
    static func isStable(before: Identity, after: Identity, hashingStartedAt started: Int64) -> Bool {
        before == after && max(after.mtime, after.ctime) < started - racyWindowNanoseconds
    }
}

extension StatCache.Identity {
    init(device: Int64, inode: Int64, size: Int64, mtime: Int64, ctime: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.mtime = mtime
        self.ctime = ctime
    }
}

/// The in-memory copy of the stat cache, shared by the `StatCache` values of one `Store`.
final class StatCacheMemory: Sendable {
    typealias Entry = (identity: StatCache.Identity, digest: Digest)
    private let state = Mutex<[String: Entry]?>(nil)

    func entries(loading database: MetadataDatabase) throws(StoreError) -> [String: Entry] {
        if let loaded = state.withLock({ $0 }) { return loaded }
        let loaded = try database.read { db in
            var entries: [String: Entry] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT path, device, inode, size, mtime_ns, ctime_ns, digest FROM stat_cache") {
                let identity = StatCache.Identity(device: row[1], inode: row[2], size: row[3], mtime: row[4], ctime: row[5])
                entries[row[0]] = (identity, try Digest(parsing: row[6]))
            }
            return entries
        }
        return state.withLock { current in
            if current == nil { current = loaded }
            return current!
        }
    }

    func set(_ path: String, _ entry: Entry?) {
        state.withLock { entries in entries?[path] = entry }
    }
}

/// Wall-clock time in nanoseconds, the unit of file timestamps.
func nowNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
