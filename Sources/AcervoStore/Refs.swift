import Foundation
import GRDB

/// A name for a blob (`kb/latest`, `snapshots/2026-11-25T02:00:00Z`), the roots gc keeps.
public struct Ref: Sendable, Codable, Equatable {
    public var name: String
    public var digest: Digest
    public var updatedAt: Date
}

/// A blob kept by gc whatever else happens, with the reason the user gave.
public struct Pin: Sendable, Codable, Equatable {
    public var digest: Digest
    public var note: String
    public var createdAt: Date
}

/// Refs and pins: the names users and snapshots give to blobs.
public struct RefTable: Sendable {
    let database: MetadataDatabase

    /// Refs under this prefix are snapshots, subject to gc's `--keep-snapshots` policy.
    public static let snapshotPrefix = "snapshots/"

    public func set(_ name: String, to digest: Digest, at date: Date = Date()) throws(StoreError) {
        try set([(name, digest)], at: date)
    }

    /// Several refs in one transaction (one fsync): a build names its snapshot twice and its hit list once.
    public func set(_ refs: [(name: String, digest: Digest)], at date: Date = Date()) throws(StoreError) {
        guard !refs.isEmpty else { return }
        try database.write { db in
            for ref in refs {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO refs (name, digest, updated_at) VALUES (?, ?, ?)",
                    arguments: [ref.name, ref.digest.description, date.timeIntervalSince1970])
            }
        }
    }

    /// One ref by name (an indexed lookup: a store gathers two refs per run).
    public func get(_ name: String) throws(StoreError) -> Ref? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM refs WHERE name = ?", arguments: [name]).map { row in
                Ref(name: row["name"], digest: try Digest(parsing: row["digest"]), updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
            }
        }
    }

    public func delete(_ name: String) throws(StoreError) {
        try database.write { db in try db.execute(sql: "DELETE FROM refs WHERE name = ?", arguments: [name]) }
    }

    /// Every ref, newest first.
    public func all() throws(StoreError) -> [Ref] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM refs ORDER BY updated_at DESC, name").map { row in
                Ref(name: row["name"], digest: try Digest(parsing: row["digest"]), updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
            }
        }
    }

    public func pin(_ digest: Digest, note: String = "", at date: Date = Date()) throws(StoreError) {
        try database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO pins (digest, note, created_at) VALUES (?, ?, ?)",
                arguments: [digest.description, note, date.timeIntervalSince1970])
        }
    }

    public func unpin(_ digest: Digest) throws(StoreError) {
        try database.write { db in try db.execute(sql: "DELETE FROM pins WHERE digest = ?", arguments: [digest.description]) }
    }

    public func pins() throws(StoreError) -> [Pin] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM pins ORDER BY created_at DESC").map { row in
                Pin(digest: try Digest(parsing: row["digest"]), note: row["note"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
            }
        }
    }
}
