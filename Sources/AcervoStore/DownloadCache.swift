import Foundation
import GRDB

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

public struct DownloadCache: Sendable {
    let database: MetadataDatabase

    public func record(for url: String) throws(StoreError) -> DownloadRecord? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM downloads WHERE url = ?", arguments: [url]).map { row in
                DownloadRecord(url: row["url"], etag: row["etag"], lastModified: row["last_modified"], size: row["size"],
                               digest: try Digest(parsing: row["digest"]))
            }
        }
    }

    public func remember(_ record: DownloadRecord, at date: Date = Date()) throws(StoreError) {
        try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO downloads (url, etag, last_modified, size, digest, checked_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [record.url, record.etag, record.lastModified, record.size, record.digest.description, date.timeIntervalSince1970])
        }
    }
}

extension Store {
    public var downloads: DownloadCache { DownloadCache(database: database) }
}
