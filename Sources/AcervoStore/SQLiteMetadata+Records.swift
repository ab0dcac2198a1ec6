import Foundation
import GRDB

// Refs and pins, the stat cache, the blob catalog, download records and the search index.

extension SQLiteMetadata {
    public func setRefs(_ refs: [(name: String, digest: Digest)], at date: Date) async throws(StoreError) {
        guard !refs.isEmpty else { return }
        let rows = refs.map { ($0.name, $0.digest.description) }
        try await write { db in
            for (name, digest) in rows {
                try db.execute(sql: "INSERT OR REPLACE INTO refs (name, digest, updated_at) VALUES (?, ?, ?)",
                               arguments: [name, digest, date.timeIntervalSince1970])
            }
        }
    }

    public func ref(_ name: String) async throws(StoreError) -> Ref? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM refs WHERE name = ?", arguments: [name]).map(Self.ref) }
    }

    public func deleteRefs(_ names: [String]) async throws(StoreError) {
        guard !names.isEmpty else { return }
        try await write { db in
            for name in names { try db.execute(sql: "DELETE FROM refs WHERE name = ?", arguments: [name]) }
        }
    }

    public func refs(prefix: String?) async throws(StoreError) -> [Ref] {
        try await read { db in
            if let prefix {
                // `name >= prefix AND name < prefix + U+10FFFF`: a range on the primary key, not a scan with LIKE.
                return try Row.fetchAll(db, sql: "SELECT * FROM refs WHERE name >= ? AND name < ? ORDER BY updated_at DESC, name",
                                        arguments: [prefix, prefix + "\u{10FFFF}"]).map(Self.ref)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM refs ORDER BY updated_at DESC, name").map(Self.ref)
        }
    }

    public func pin(_ digest: Digest, note: String, at date: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO pins (digest, note, created_at) VALUES (?, ?, ?)",
                           arguments: [digest.description, note, date.timeIntervalSince1970])
        }
    }

    public func unpin(_ digest: Digest) async throws(StoreError) {
        try await write { db in try db.execute(sql: "DELETE FROM pins WHERE digest = ?", arguments: [digest.description]) }
    }

    public func pins() async throws(StoreError) -> [Pin] {
        try await read { db in try Self.fetchPins(db) }
    }

    private static func fetchPins(_ db: Database) throws -> [Pin] {
        try Row.fetchAll(db, sql: "SELECT * FROM pins ORDER BY created_at DESC").map { row in
            Pin(digest: try row.digest("digest"), note: row["note"], createdAt: row.date("created_at"))
        }
    }

    public func integrityProblem() async -> String? {
        do {
            let answers = try await read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            return answers == ["ok"] ? nil : answers.prefix(3).joined(separator: "; ")
        } catch {
            return "\(error)"
        }
    }

    public func consistentSnapshot() async throws(StoreError) -> MetadataSnapshot {
        try await read { db in
            MetadataSnapshot(
                results: try Self.fetchResults(db, where: "1", []),
                refs: try Row.fetchAll(db, sql: "SELECT * FROM refs ORDER BY updated_at DESC, name").map(Self.ref),
                pins: try Self.fetchPins(db), links: try Self.fetchLinks(db))
        }
    }

    private static func ref(_ row: Row) throws -> Ref {
        Ref(name: row["name"], digest: try row.digest("digest"), updatedAt: row.date("updated_at"))
    }

    // MARK: Stat cache

    public func statEntries() async throws(StoreError) -> [String: StatEntry] {
        try await read { db in
            var entries: [String: StatEntry] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT path, device, inode, size, mtime_ns, ctime_ns, digest FROM stat_cache")
            while let row = try rows.next() {
                let identity = StatIdentity(device: row[1], inode: row[2], size: row[3], mtimeNanoseconds: row[4], ctimeNanoseconds: row[5])
                entries[row[0]] = StatEntry(identity: identity, digest: try Digest(parsing: row[6]))
            }
            return entries
        }
    }

    public func recordStat(_ entry: StatEntry, path: String) async throws(StoreError) {
        try await write { db in
            let identity = entry.identity
            try db.execute(
                sql: "INSERT OR REPLACE INTO stat_cache (path, device, inode, size, mtime_ns, ctime_ns, digest) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [path, identity.device, identity.inode, identity.size, identity.mtimeNanoseconds, identity.ctimeNanoseconds,
                            entry.digest.description])
        }
    }

    public func forgetStat(path: String) async throws(StoreError) {
        try await write { db in try db.execute(sql: "DELETE FROM stat_cache WHERE path = ?", arguments: [path]) }
    }

    // MARK: Blob catalog

    public func catalogMedia(_ digest: Digest, size: Int64, at date: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO blobs (digest, size, kind, created_at) VALUES (?, ?, 'media', ?)",
                           arguments: [digest.description, size, date.timeIntervalSince1970])
        }
    }

    public func mediaBlobs() async throws(StoreError) -> [MediaBlob] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT digest, created_at FROM blobs WHERE kind = 'media'").map { row in
                MediaBlob(digest: try row.digest("digest"), createdAt: row.date("created_at"))
            }
        }
    }

    public func link(parent: Digest, children: [Digest]) async throws(StoreError) {
        let rows = Set(children).map { (parent.description, $0.description) }
        guard !rows.isEmpty else { return }
        try await write { db in
            for (parent, child) in rows {
                try db.execute(sql: "INSERT OR IGNORE INTO blob_links (parent, child) VALUES (?, ?)", arguments: [parent, child])
            }
        }
    }

    public func links() async throws(StoreError) -> [BlobLink] {
        try await read { db in try Self.fetchLinks(db) }
    }

    private static func fetchLinks(_ db: Database) throws -> [BlobLink] {
        try Row.fetchAll(db, sql: "SELECT parent, child FROM blob_links").map { row in
            BlobLink(parent: try row.digest("parent"), child: try row.digest("child"))
        }
    }

    public func linkParents() async throws(StoreError) -> Set<Digest> {
        try await read { db in
            Set(try Row.fetchAll(db, sql: "SELECT DISTINCT parent FROM blob_links").map { try $0.digest("parent") })
        }
    }

    public func children(of parent: Digest) async throws(StoreError) -> [Digest] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT child FROM blob_links WHERE parent = ?", arguments: [parent.description]).map { try $0.digest("child") }
        }
    }

    public func forgetBlobs(_ digests: Set<Digest>) async throws(StoreError) {
        guard !digests.isEmpty else { return }
        let names = digests.map(\.description)
        try await write { db in
            for name in names {
                try db.execute(sql: "DELETE FROM blobs WHERE digest = ?", arguments: [name])
                try db.execute(sql: "DELETE FROM blob_links WHERE parent = ?", arguments: [name])
            }
        }
    }

    // MARK: Downloads

    public func downloadRecord(for url: String) async throws(StoreError) -> DownloadRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM downloads WHERE url = ?", arguments: [url]).map { row in
                DownloadRecord(url: row["url"], etag: row["etag"], lastModified: row["last_modified"], size: row["size"],
                               digest: try row.digest("digest"))
            }
        }
    }

    public func rememberDownload(_ record: DownloadRecord, at date: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO downloads (url, etag, last_modified, size, digest, checked_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [record.url, record.etag, record.lastModified, record.size, record.digest.description, date.timeIntervalSince1970])
        }
    }

    // MARK: Search (SQLite FTS5: BM25 ranking, snippets, accent folding)

    public func isIndexed(_ collection: Digest) async throws(StoreError) -> Bool {
        try await read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM search_collections WHERE collection = ?", arguments: [collection.description]) ?? false
        }
    }

    public func index(_ collection: Digest, documents: [SearchDocument]) async throws(StoreError) {
        var encoded: [(String, String, String, String)] = []
        for document in documents {
            encoded.append((document.item, try JSONEncoder.canonicalText(document.attributes, what: "the attributes of \(document.item)"), document.title,
                            document.body))
        }
        let rows = encoded
        try await write { db in
            try db.execute(sql: "DELETE FROM search_text WHERE collection = ?", arguments: [collection.description])
            for (item, attributes, title, body) in rows {
                try db.execute(sql: "INSERT INTO search_text (collection, item, attributes, title, body) VALUES (?, ?, ?, ?, ?)",
                               arguments: [collection.description, item, attributes, title, body])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO search_collections (collection, indexed_at) VALUES (?, ?)",
                           arguments: [collection.description, Date().timeIntervalSince1970])
        }
    }

    public func search(_ collection: Digest, query: SearchQuery, filters: [String: String], limit: Int) async throws(StoreError) -> [SearchHit] {
        let match = query.words.map { "\"\($0)\"" }.joined(separator: " ")
        var sql = """
            SELECT item, title, attributes, snippet(search_text, 4, '[', ']', '…', 14) AS snippet, bm25(search_text, 0, 0, 0, 4.0, 1.0) AS rank
            FROM search_text WHERE search_text MATCH ? AND collection = ?
            """
        var arguments: StatementArguments = [match, collection.description]
        for (name, value) in filters.sorted(by: { $0.key < $1.key }) {
            sql += " AND json_extract(attributes, ?) = ?"
            arguments += ["$.\"\(name)\"", value]
        }
        sql += " ORDER BY rank LIMIT ?"
        arguments += [limit]
        let (statement, bound) = (sql, arguments)
        return try await read { db in
            try Row.fetchAll(db, sql: statement, arguments: bound).map { row in
                let attributesText: String = row["attributes"]
                let attributes = (try? JSONDecoder().decode([String: String].self, from: Data(attributesText.utf8))) ?? [:]
                return SearchHit(item: row["item"], title: row["title"], attributes: attributes, snippet: row["snippet"], rank: row["rank"])
            }
        }
    }
}
