import Foundation
import GRDB

/// A text document to index: one item of a collection (a snapshot).
public struct SearchDocument: Sendable, Equatable {
    public var item: String
    public var title: String
    public var attributes: [String: String]
    public var body: String

    public init(item: String, title: String, attributes: [String: String], body: String) {
        self.item = item
        self.title = title
        self.attributes = attributes
        self.body = body
    }
}

/// One ranked match.
public struct SearchHit: Sendable, Codable, Equatable {
    public var item: String
    public var title: String
    public var attributes: [String: String]
    /// The matching passage, matches between `[` and `]`.
    public var snippet: String
    /// BM25, lower is better (SQLite's convention).
    public var rank: Double
}

/// Full-text search over collections of documents, with SQLite FTS5 (BM25 ranking, snippets, accent folding).
/// A collection is indexed once; its content never changes because it is named by a digest.
public struct SearchIndex: Sendable {
    let database: MetadataDatabase

    public func isIndexed(_ collection: Digest) throws(StoreError) -> Bool {
        try database.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM search_collections WHERE collection = ?", arguments: [collection.description]) ?? false
        }
    }

    public func index(_ collection: Digest, documents: [SearchDocument]) throws(StoreError) {
        try database.write { db in
            try db.execute(sql: "DELETE FROM search_text WHERE collection = ?", arguments: [collection.description])
            for document in documents {
                let attributes = String(decoding: try JSONEncoder.canonical.encode(document.attributes), as: UTF8.self)
                try db.execute(
                    sql: "INSERT INTO search_text (collection, item, attributes, title, body) VALUES (?, ?, ?, ?, ?)",
                    arguments: [collection.description, document.item, attributes, document.title, document.body])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO search_collections (collection, indexed_at) VALUES (?, ?)",
                           arguments: [collection.description, Date().timeIntervalSince1970])
        }
    }

    /// Every word of `query` must occur (prefix match on the last one); `filters` match attributes exactly.
    public func search(_ collection: Digest, query: String, filters: [String: String] = [:], limit: Int = 10) throws(StoreError) -> [SearchHit] {
        let words = query.split { !$0.isLetter && !$0.isNumber }.map { "\"\($0)\"" }
        guard !words.isEmpty else { throw .invalidArgument("the search has no words to look for") }
        let match = words.joined(separator: " ")
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
        let bound = arguments
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: bound).map { row in
                let attributesText: String = row["attributes"]
                let attributes = (try? JSONDecoder().decode([String: String].self, from: Data(attributesText.utf8))) ?? [:]
                return SearchHit(item: row["item"], title: row["title"], attributes: attributes, snippet: row["snippet"], rank: row["rank"])
            }
        }
    }
}

extension Store {
    public var searchIndex: SearchIndex { SearchIndex(database: database) }
}
