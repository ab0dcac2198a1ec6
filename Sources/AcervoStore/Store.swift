import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Whether a blob is raw source media (a downloaded video, a course file) or something Acervo derived.
///
/// gc treats them differently: derived outputs were paid for, raw media can be fetched again and may be
/// dropped by age with `--drop-media-older-than`.
public enum BlobKind: String, Sendable, Codable {
    case media, derived
}

/// A content-addressed store: blobs on disk, metadata in SQLite. Knows nothing of pipelines.
public final class Store: Sendable {
    /// The version written into every action result; bumped with each release.
    public static let toolVersion = "0.1.0"

    public let root: String
    public let blobs: BlobStore
    public let database: MetadataDatabase

    public var actionCache: ActionCache { ActionCache(database: database, blobs: blobs) }
    public var statCache: StatCache { StatCache(database: database, memory: statCacheMemory) }
    private let statCacheMemory = StatCacheMemory()
    public var refs: RefTable { RefTable(database: database) }
    public var runLog: RunLog { RunLog(database: database) }

    /// Names a store folder may hold. Anything else means the folder is something else, and Acervo refuses
    /// to write into it rather than mix its files with a user's.
    static let knownEntries: Set<String> = [
        "objects", "tmp", "quarantine", "lock", "README.md", "acervo.sqlite", "acervo.sqlite-wal", "acervo.sqlite-shm",
        // SQLite's rollback journal: a writer killed while creating the database, before WAL mode is on, leaves it.
        "acervo.sqlite-journal",
    ]

    private init(root: String, database: MetadataDatabase) {
        self.root = root
        self.blobs = BlobStore(root: root)
        self.database = database
    }

    /// Opens (creating if needed) the store at `path`.
    ///
    /// A folder that does not exist, is empty, or holds only a README becomes a new store; a folder with
    /// other files is refused with `StoreError.notAStore`. Writers also clear temp files of dead writers.
    public static func open(at path: String, readOnly: Bool = false) throws(StoreError) -> Store {
        let root = absolute(path)
        if !FileSystem.exists(root) {
            if readOnly { throw .notAStore(path: root, unexpected: ["nothing (the folder does not exist)"]) }
            try createDirectories(root)
        }
        let entries = try validatedEntries(root)
        if readOnly {
            guard entries.contains("acervo.sqlite") else { throw .notAStore(path: root, unexpected: ["no acervo.sqlite"]) }
            return Store(root: root, database: try MetadataDatabase(path: root + "/acervo.sqlite", readOnly: true))
        }
        for directory in ["/objects", "/objects/sha256", "/tmp"] { try FileSystem.makeDirectory(root + directory) }
        try probeWritable(root)
        let store = Store(root: root, database: try MetadataDatabase(path: root + "/acervo.sqlite"))
        _ = store.blobs.removeStaleTemporaries(olderThanSeconds: 24 * 3600)
        return store
    }

    /// Only the blobs of an existing store, without opening its database: reading a blob works on a read-only
    /// medium, where SQLite in WAL mode cannot open.
    public static func openBlobs(at path: String) throws(StoreError) -> BlobStore {
        let root = absolute(path)
        guard FileSystem.exists(root) else { throw .notAStore(path: root, unexpected: ["nothing (the folder does not exist)"]) }
        let entries = try validatedEntries(root)
        guard entries.contains("objects") else { throw .notAStore(path: root, unexpected: ["no objects folder"]) }
        return BlobStore(root: root)
    }

    private static func validatedEntries(_ root: String) throws(StoreError) -> [String] {
        guard FileSystem.isDirectory(root) else { throw .notAStore(path: root, unexpected: ["a file, not a folder"]) }
        let entries = FileSystem.entries(of: root)
        let unexpected = entries.filter { !knownEntries.contains($0) }.sorted()
        guard unexpected.isEmpty else { throw .notAStore(path: root, unexpected: unexpected) }
        return entries
    }

    // MARK: Putting blobs

    @discardableResult
    public func put(fileAt path: String, kind: BlobKind = .derived) throws(StoreError) -> PutOutcome {
        try catalog(try blobs.put(fileAt: path), kind: kind)
    }

    @discardableResult
    public func put(bytes: [UInt8], kind: BlobKind = .derived) throws(StoreError) -> PutOutcome {
        try catalog(try blobs.put(bytes: bytes), kind: kind)
    }

    @discardableResult
    public func put<Chunks: AsyncSequence>(stream: Chunks, kind: BlobKind = .derived) async throws -> PutOutcome
    where Chunks.Element == [UInt8] {
        try catalog(try await blobs.put(stream: stream), kind: kind)
    }

    /// Commits a piecewise-written object (a download) and catalogues it like any other put.
    @discardableResult
    public func commit(_ writer: BlobWriter, kind: BlobKind = .media) throws(StoreError) -> PutOutcome {
        try catalog(try writer.commit(), kind: kind)
    }

    /// Stores a local file unless the stat cache proves it is unchanged and already stored; then no byte of
    /// it is read (`bytesRead == 0`).
    @discardableResult
    public func ingest(fileAt path: String, kind: BlobKind = .media) throws(StoreError) -> PutOutcome {
        let absolutePath = Self.absolute(path)
        let before = try identity(of: absolutePath)
        if let digest = try statCache.digest(forPath: absolutePath, identity: before), blobs.contains(digest) {
            return PutOutcome(digest: digest, size: before.size, bytesRead: 0, isNew: false)
        }
        let started = nowNanoseconds()
        let outcome = try put(fileAt: absolutePath, kind: kind)
        try rememberIfStable(path: absolutePath, before: before, started: started, digest: outcome.digest)
        return outcome
    }

    /// Blobs recorded as media, with when they entered the store.
    func mediaBlobs() throws(StoreError) -> [(digest: Digest, createdAt: Date)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT digest, created_at FROM blobs WHERE kind = 'media'").map { row in
                (try Digest(parsing: row["digest"]), Date(timeIntervalSince1970: row["created_at"]))
            }
        }
    }

    /// Records media blobs (with when they arrived) for gc's `--drop-media-older-than`. Derived blobs are
    /// not catalogued: an uncatalogued blob is derived, which saves a transaction on every action's output.
    private func catalog(_ outcome: PutOutcome, kind: BlobKind) throws(StoreError) -> PutOutcome {
        guard kind == .media else { return outcome }
        try database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO blobs (digest, size, kind, created_at) VALUES (?, ?, ?, ?)",
                arguments: [outcome.digest.description, outcome.size, kind.rawValue, Date().timeIntervalSince1970])
        }
        return outcome
    }

    private func identity(of path: String) throws(StoreError) -> StatCache.Identity {
        guard let info = FileSystem.status(path) else { throw StoreError.from(errno: errno, operation: "stat", path: path) }
        return StatCache.Identity(info)
    }

    private func rememberIfStable(path: String, before: StatCache.Identity, started: Int64, digest: Digest) throws(StoreError) {
        let after = try identity(of: path)
        if StatCache.isStable(before: before, after: after, hashingStartedAt: started) {
            try statCache.record(path: path, identity: after, digest: digest)
        } else {
            try statCache.forget(path: path)
        }
    }

    // MARK: Layout

    static func absolute(_ path: String) -> String {
        // The common case, an absolute path with nothing to normalise, skips URL's costly standardisation.
        if path.hasPrefix("/") && !path.contains("/.") && !path.contains("//") && !path.hasSuffix("/") { return path }
        let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    /// `mkdir -p`, so an error names the exact folder that could not be made.
    private static func createDirectories(_ path: String) throws(StoreError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            try FileSystem.makeDirectory(current)
        }
    }

    /// Permission bits do not stop root and say nothing of a read-only mount, so writability is tested by
    /// creating a file where blobs will be written.
    private static func probeWritable(_ root: String) throws(StoreError) {
        let probe = root + "/tmp/.probe-\(getpid())"
        let fd = Glibc.open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            if code == EROFS || code == EACCES || code == EPERM { throw StoreError.readOnly(path: root) }
            throw StoreError.from(errno: code, operation: "create", path: probe)
        }
        Glibc.close(fd)
        unlink(probe)
    }
}
