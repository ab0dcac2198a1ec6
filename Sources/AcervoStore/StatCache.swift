import Foundation
import GRDB
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
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM stat_cache WHERE path = ?", arguments: [path]) else {
                return nil
            }
            let stored = Identity(device: row["device"], inode: row["inode"], size: row["size"], mtime: row["mtime_ns"], ctime: row["ctime_ns"])
            return stored == identity ? try Digest(parsing: row["digest"]) : nil
        }
    }

    func record(path: String, identity: Identity, digest: Digest) throws(StoreError) {
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

/// Wall-clock time in nanoseconds, the unit of file timestamps.
func nowNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
