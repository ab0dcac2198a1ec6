import Foundation
import GRDB

/// What `acervo fsck --repair` did with a damaged or missing database.
public struct DatabaseRecovery: Sendable, Codable, Equatable {
    /// What was wrong: SQLite's words, or that the file was missing.
    public var problem: String
    /// Where the damaged file (and its -wal, -shm) went; nil when there was none.
    public var damagedCopy: String?
    /// Rows copied from the damaged file, by table.
    public var salvagedRows: [String: Int] = [:]
    /// Tables whose rows could not all be read: some of their rows are lost.
    public var incompleteTables: [String] = []
    /// Results re-found in the run logs the objects hold (results the salvage did not have).
    public var resultsFromLogs = 0
    /// Snapshot manifests, trees and hit lists re-found among the objects.
    public var snapshotsFound = 0
    public var treesFound = 0
    public var hitListsFound = 0
}

extension Store {
    /// Rebuilds the database of the store folder at `root`, under the store lock and with the store not open:
    /// the damaged file goes to `quarantine/`, a new one is created, every row SQLite can still read is
    /// copied over, and what the objects hold is re-found — run logs give back the results of every run that
    /// finished, snapshot manifests and hit lists get refs again, trees and manifests their links (so gc keeps
    /// their members). What is still missing is exactly what the next build recomputes.
    public static func recoverDatabase(at path: String, problem: String) async throws(StoreError) -> DatabaseRecovery {
        let root = absolute(path)
        var recovery = DatabaseRecovery(problem: problem)
        let database = root + "/" + databaseName
        let quarantine = root + "/quarantine"
        try FileSystem.makeDirectory(quarantine)
        if (FileSystem.status(database)?.st_size ?? 0) > 0 {
            let copy = quarantine + "/\(databaseName).damaged-\(Int(Date().timeIntervalSince1970))"
            for suffix in ["", "-wal", "-shm"] where FileSystem.exists(database + suffix) {
                try FileSystem.rename(database + suffix, copy + suffix)
            }
            recovery.damagedCopy = copy
        } else {
            for suffix in ["", "-wal", "-shm"] { FileSystem.remove(database + suffix) }
        }
        let fresh = try await onBlockingThread { () throws(StoreError) in try SQLiteMetadata(path: database) }
        if let copy = recovery.damagedCopy {
            (recovery.salvagedRows, recovery.incompleteTables) = await onBlockingThread { fresh.salvage(from: copy) }
        }
        let store = Store(blobs: FileBlobStore(root: root), metadata: fresh, root: root)
        try await store.refind(&recovery)
        return recovery
    }

    /// Re-finds among the objects what the database named: run logs (their results), snapshot manifests and
    /// hit lists (their refs), trees and manifests (their links).
    func refind(_ recovery: inout DatabaseRecovery) async throws(StoreError) {
        let referenced = Set(try await refs.refs(prefix: nil).map(\.digest))
        var manifests: [(digest: Digest, modified: Date)] = []
        var logs: [(digest: Digest, log: RunLog, modified: Date)] = []
        for digest in try await blobs.inventory().digests.sorted() {
            // Structural blobs are small, and JSON or text: videos and images are not read past their first bytes.
            guard let info = await blobs.info(digest), info.size > 0, info.size <= 64 << 20, await looksStructural(digest),
                  let bytes = try? await blobs.bytes(of: digest) else { continue }
            if let log = try? RunLog(parsing: bytes) {
                logs.append((digest, log, info.modifiedAt))
            } else if let tree = try? JSONDecoder().decode([TreeEntry].self, from: Data(bytes)), !tree.isEmpty {
                try await link(parent: digest, children: tree.map(\.digest))
                recovery.treesFound += 1
            } else if let manifest = RecoveredManifest(bytes) {
                try await link(parent: digest, children: manifest.documents)
                if !referenced.contains(digest) { try await refs.setRefs([(Ref.snapshotPrefix + "recovered-" + digest.hex.prefix(12), digest)], at: info.modifiedAt) }
                manifests.append((digest, info.modifiedAt))
                recovery.snapshotsFound += 1
            } else if let bytes = Optional(bytes), bytes.last == 10, let hits = try? HitList(parsing: bytes), !hits.entries.isEmpty {
                if !referenced.contains(digest) { try await refs.setRefs([(Ref.hitListPrefix + "recovered-" + digest.hex.prefix(12), digest)], at: info.modifiedAt) }
                recovery.hitListsFound += 1
            }
        }
        // A run whose process died (the build killed before the database lost its -wal) left its log as a
        // temp file: the newest results of all.
        if let files = blobs as? FileBlobStore { recovery.resultsFromLogs += try await adoptRunLogsOfDeadWriters(files) }
        // Newest run first: a result a later run re-made (`--refresh`) wins. A salvaged result that lost some of
        // its outputs (their rows were on an unreadable page) is replaced by the logged one: kept as it is, it
        // would be a miss, and its action paid for again.
        var fromLogs = Set<ActionKey>()
        for (digest, log, modified) in logs.sorted(by: { $0.log.run > $1.log.run }) {
            for result in log.results where !fromLogs.contains(result.key) {
                if let salvaged = try await actionCache.result(forKey: result.key),
                   !salvaged.outputs.isEmpty, Set(result.outputs.keys).isSubset(of: Set(salvaged.outputs.keys)) { continue }
                try await actionCache.commit(result, event: nil, trace: nil)
                fromLogs.insert(result.key)
                recovery.resultsFromLogs += 1
            }
            if !referenced.contains(digest) { try await refs.setRefs([(Ref.runLogPrefix + log.run, digest)], at: modified) }
        }
        if try await refs.ref(Ref.latestSnapshot) == nil, let newest = manifests.max(by: { $0.modified < $1.modified }) {
            try await refs.setRefs([(Ref.latestSnapshot, newest.digest)], at: newest.modified)
        }
    }
}

extension Store {
    /// Whether a blob starts like a run log, JSON or a hit list (text with a tab in its first line), judged on
    /// its first chunk: media are never read whole.
    fileprivate func looksStructural(_ digest: Digest) async -> Bool {
        guard let chunks = try? await blobs.chunks(of: digest).makeAsyncIterator(), let first = try? await chunks.next(),
              let byte = first.first else { return false }
        if byte == 0x7B || byte == 0x5B { return true }
        guard let text = String(validating: first.prefix { $0 != 10 }.prefix(4096), as: UTF8.self) else { return false }
        return text.contains("\t") && !text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" }
    }
}

/// Just enough of a snapshot manifest (`{"version":1,"entries":[{"document":…},…]}`) to re-find one: the
/// store knows nothing of the engine's types.
private struct RecoveredManifest: Decodable {
    struct Entry: Decodable { var document: Digest }
    var version: Int
    var entries: [Entry]
    var documents: [Digest] { entries.map(\.document) }

    init?(_ bytes: [UInt8]) {
        guard bytes.first == 0x7B, let manifest = try? JSONDecoder().decode(Self.self, from: Data(bytes)) else { return nil }
        self = manifest
    }
}

extension SQLiteMetadata {
    /// Copies every row SQLite can still read from the database at `damaged` into this one, table by table in
    /// rowid order, skipping past pages it cannot read; the search index and the kept totals are left out (they
    /// are rebuilt). Returns the rows copied per table and the tables it could not read whole.
    func salvage(from damaged: String) -> (rows: [String: Int], incomplete: [String]) {
        var rows: [String: Int] = [:]
        var incomplete: [String] = []
        guard let source = try? DatabaseQueue(path: damaged) else { return ([:], ["(the file cannot be opened as a database)"]) }
        let tables = (try? pool.read { db in
            // Totals are derived, not salvaged: the triggers keep `result_totals` as results are copied in, and hit
            // lists are totalled again on the first question.
            try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search%'
                AND name NOT IN ('grdb_migrations', 'result_totals', 'hit_list_totals')
                """)
        }) ?? []
        for table in tables {
            let wanted = (try? pool.read { db in try db.columns(in: table).map(\.name) }) ?? []
            let present = Set((try? source.read { db in try db.columns(in: table).map(\.name) }) ?? [])
            let columns = wanted.filter(present.contains)
            guard !columns.isEmpty else {
                if !present.isEmpty || !wanted.isEmpty { incomplete.append(table) }
                continue
            }
            let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
            let insert = "INSERT OR IGNORE INTO \"\(table)\" (\(list)) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))"
            var after = Int64.min
            var copied = 0
            var failures = 0
            var skipped = false
            while failures < 64 {
                do {
                    let batch = try source.read { db in
                        try Row.fetchAll(db, sql: "SELECT rowid AS acervo_rowid, \(list) FROM \"\(table)\" WHERE rowid > ? ORDER BY rowid LIMIT 500", arguments: [after])
                    }
                    failures = 0
                    guard let last = batch.last else { break }
                    after = last["acervo_rowid"]
                    try pool.writeWithoutTransaction { db in
                        try db.execute(sql: "PRAGMA foreign_keys = OFF")
                        try db.inTransaction {
                            for row in batch { try db.execute(sql: insert, arguments: StatementArguments(columns.map { row[$0] as DatabaseValue })) }
                            return .commit
                        }
                        try db.execute(sql: "PRAGMA foreign_keys = ON")
                    }
                    copied += batch.count
                } catch {
                    // An unreadable page: jump ahead in rowids and try again.
                    skipped = true
                    failures += 1
                    after = after == Int64.min ? 0 : after + Int64(1) << min(Int64(failures), 40)
                }
            }
            rows[table] = copied
            if skipped { incomplete.append(table) }
        }
        // Rows whose parent row was lost (an output without its result) go: the rest stays consistent.
        _ = try? pool.writeWithoutTransaction { db in
            for violation in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") {
                let table: String = violation["table"]
                let rowid: Int64 = violation["rowid"]
                try db.execute(sql: "DELETE FROM \"\(table)\" WHERE rowid = ?", arguments: [rowid])
            }
        }
        return (rows, incomplete.sorted())
    }
}
