import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A content-addressed store: blobs and their metadata, behind the ports in `Ports.swift`. Knows nothing of
/// pipelines. Everything here is written against the ports, so it works the same on every backend.
public final class Store: Sendable {
    /// The version written into every action result; bumped with each release.
    public static let toolVersion = "0.1.0"

    /// The store's folder (its lock lives there); nil for a store in memory.
    public let root: String?
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    private let statMemory = StatCacheMemory()
    /// The blobs that have members, loaded at the first lookup and kept current by `link`: a lookup checks
    /// the members of exactly these outputs.
    private let treeParents = Mutex<Set<Digest>?>(nil)
    /// The log each unfinished run is writing.
    private let runLogs = Mutex<[String: any BlobWriter]>([:])
    /// Runs started through this store and not finished yet.
    private let openRuns = Mutex<Set<String>>([])
    /// What each hit list adds to the cache's figures, per processor: hit lists never change (their digest is
    /// their content), and identical nights share one, so each is read once per process, not once per question.
    let hitListTotals = Mutex<[Digest: [String: HitTotals]]>([:])
    /// The last hit lists read, decoded (a run page, a lesson's trace): a few, each up to one entry per action.
    let recentHitLists = RecentlyUsed<Digest, HitList>(capacity: 4)
    /// How often each key appears in the last hit lists asked about key by key (a lesson's trace).
    let recentHitCounts = RecentlyUsed<Digest, [ActionKey: Int]>(capacity: 4)

    public var actionCache: any ActionCache { metadata }
    public var journal: any RunJournal { metadata }
    public var refs: any RefStore { metadata }
    public var catalog: any BlobCatalog { metadata }
    public var downloads: any DownloadRecords { metadata }
    public var searchIndex: any SearchIndex { metadata }

    public init(blobs: any BlobStore, metadata: any MetadataStore, root: String? = nil) {
        self.blobs = blobs
        self.metadata = metadata
        self.root = root
    }

    /// A store in memory, gone with the process.
    public static func inMemory() -> Store {
        Store(blobs: MemoryBlobStore(), metadata: MemoryMetadata())
    }

    /// A name for messages: the folder, or `memory`.
    public var location: String { root ?? "memory" }

    // MARK: Opening a store folder

    static let databaseName = "acervo.sqlite"

    /// Names a store folder may hold. Anything else means the folder is something else, and Acervo refuses
    /// to write into it rather than mix its files with a user's.
    static let knownEntries: Set<String> = [
        "objects", "tmp", "quarantine", "lock", "README.md", "acervo.sqlite", "acervo.sqlite-wal", "acervo.sqlite-shm",
        // SQLite's rollback journal: a writer killed while creating the database, before WAL mode is on, leaves it.
        "acervo.sqlite-journal",
    ]

    /// Opens (creating if needed) the store folder at `path`: blobs in files, metadata in SQLite.
    ///
    /// A folder that does not exist, is empty, or holds only a README becomes a new store; a folder with
    /// other files is refused with `StoreError.notAStore`. Writers also clear temp files of dead writers.
    /// The opening (SQLite's migrations, the checks) runs on a blocking thread.
    public static func open(at path: String, readOnly: Bool = false) async throws(StoreError) -> Store {
        let store = try await onBlockingThread { () throws(StoreError) in try openNow(at: path, readOnly: readOnly) }
        if !readOnly, let blobs = store.blobs as? FileBlobStore {
            try await store.adoptRunLogsOfDeadWriters(blobs)
            _ = await onBlockingThread { blobs.removeStaleTemporaries(olderThanSeconds: 24 * 3600) }
        }
        return store
    }

    /// A run whose process died (SIGKILL, the OOM killer) left its log of results as a temp file: its whole
    /// lines are stored as the run's log (`results/RUN`), and results the database lacks — it can lose its
    /// last transactions with its `-wal` file — are committed again. Nothing that was paid for is lost with a
    /// temp file.
    @discardableResult
    func adoptRunLogsOfDeadWriters(_ files: FileBlobStore) async throws(StoreError) -> Int {
        var committed = 0
        for (path, bytes) in files.temporaryFiles(startingWith: Array((RunLog.header + "\t").utf8), ofDeadWritersOnly: true) {
            if let log = try? RunLog(parsing: bytes, partial: true), !log.results.isEmpty {
                for result in log.results where try await actionCache.result(forKey: result.key) == nil {
                    try await actionCache.commit(result, event: nil, trace: nil)
                    committed += 1
                }
                if try await refs.ref(Ref.runLogPrefix + log.run) == nil {
                    var bytes = RunLog.headerLine(log.run)
                    for result in log.results { bytes += try RunLog.line(result) }
                    let kept = try await blobs.put(bytes: bytes).digest
                    try await refs.setRefs([(Ref.runLogPrefix + log.run, kept)], at: Date())
                }
            }
            FileSystem.remove(path)
        }
        return committed
    }

    private static func openNow(at path: String, readOnly: Bool) throws(StoreError) -> Store {
        let root = absolute(path)
        if !FileSystem.exists(root) {
            if readOnly { throw .notAStore(path: root, unexpected: ["nothing (the folder does not exist)"]) }
            try createDirectories(root)
        }
        let entries = try validatedEntries(root)
        if readOnly {
            guard entries.contains("acervo.sqlite") else { throw .notAStore(path: root, unexpected: ["no acervo.sqlite"]) }
            return Store(blobs: FileBlobStore(root: root), metadata: try SQLiteMetadata(path: root + "/acervo.sqlite", readOnly: true), root: root)
        }
        for directory in ["/objects", "/objects/sha256", "/tmp"] { try FileSystem.makeDirectory(root + directory) }
        try probeWritable(root)
        let blobs = FileBlobStore(root: root)
        // A database that is gone (or empty) beside stored objects is damage, not a new store: opening it would
        // start an empty one and forget every result, run and ref without a word.
        // The objects are looked at first: a writer migrates its new database before it stores any object.
        let holdsObjects = blobs.holdsObjects()
        if (FileSystem.status(root + "/" + databaseName)?.st_size ?? 0) == 0, holdsObjects {
            throw .databaseMissing(path: root + "/" + databaseName)
        }
        let store = Store(blobs: blobs, metadata: try SQLiteMetadata(path: root + "/acervo.sqlite", requireSchema: holdsObjects), root: root)
        return store
    }

    /// Only the blobs of an existing store folder, without opening its database: reading a blob works on a
    /// read-only medium, where SQLite in WAL mode cannot open.
    public static func openBlobs(at path: String) throws(StoreError) -> FileBlobStore {
        let root = absolute(path)
        guard FileSystem.exists(root) else { throw .notAStore(path: root, unexpected: ["nothing (the folder does not exist)"]) }
        let entries = try validatedEntries(root)
        guard entries.contains("objects") else { throw .notAStore(path: root, unexpected: ["no objects folder"]) }
        return FileBlobStore(root: root)
    }

    private static func validatedEntries(_ root: String) throws(StoreError) -> [String] {
        guard FileSystem.isDirectory(root) else { throw .notAStore(path: root, unexpected: ["a file, not a folder"]) }
        let entries = FileSystem.entries(of: root)
        let unexpected = entries.filter { !knownEntries.contains($0) }.sorted()
        guard unexpected.isEmpty else { throw .notAStore(path: root, unexpected: unexpected) }
        return entries
    }

    /// An absolute, normalised path.
    public static func absolute(_ path: String) -> String {
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

    // MARK: Putting blobs

    @discardableResult
    public func put(fileAt path: String, kind: BlobKind = .derived) async throws(StoreError) -> PutOutcome {
        try await catalog(try await blobs.put(fileAt: path), kind: kind)
    }

    @discardableResult
    public func put(bytes: [UInt8], kind: BlobKind = .derived) async throws(StoreError) -> PutOutcome {
        try await catalog(try await blobs.put(bytes: bytes), kind: kind)
    }

    /// Stores small structural bytes — a snapshot manifest, a tree, a hit list — making sure the stored copy
    /// is sound: an existing object is read back and checked, and a damaged one replaced. Builds write these
    /// every night, so damage to them heals with the next build instead of being trusted.
    public func putChecked(bytes: [UInt8]) async throws(StoreError) -> PutOutcome {
        // A large one (a night's hit list) is checked where it is read instead: re-reading megabytes on every
        // no-op build would cost more than the check is worth; its size is still compared by `put`.
        guard bytes.count <= 4 << 20 else { return try await put(bytes: bytes) }
        let digest = Digest.of(bytes)
        if await blobs.contains(digest) {
            do { _ = try await blobs.bytes(of: digest) } catch .corrupt { /* quarantined: stored again below */ }
        }
        return try await put(bytes: bytes)
    }

    @discardableResult
    public func put<Chunks: AsyncSequence>(stream: Chunks, kind: BlobKind = .derived) async throws -> PutOutcome where Chunks.Element == [UInt8] {
        try await catalog(try await blobs.put(stream: stream), kind: kind)
    }

    /// Commits a piecewise-written object (a download) and catalogues it like any other put.
    @discardableResult
    public func commit(_ writer: any BlobWriter, kind: BlobKind = .media) async throws(StoreError) -> PutOutcome {
        try await catalog(try await writer.commit(), kind: kind)
    }

    /// Stores a local file unless the stat cache proves it is unchanged and already stored; then no byte of
    /// it is read (`bytesRead == 0`). Each path is hashed at most once while unchanged.
    @discardableResult
    public func ingest(fileAt path: String, kind: BlobKind = .media) async throws(StoreError) -> PutOutcome {
        let absolutePath = Self.absolute(path)
        let before = try identity(of: absolutePath)
        if let entry = try await statMemory.entry(absolutePath, loading: metadata), entry.identity == before,
           await blobs.contains(entry.digest) {
            return PutOutcome(digest: entry.digest, size: before.size, bytesRead: 0, isNew: false)
        }
        let started = nowNanoseconds()
        let outcome = try await put(fileAt: absolutePath, kind: kind)
        let after = try identity(of: absolutePath)
        if StatIdentity.isStable(before: before, after: after, hashingStartedAt: started) {
            let entry = StatEntry(identity: after, digest: outcome.digest)
            statMemory.set(absolutePath, entry)
            try await metadata.recordStat(entry, path: absolutePath)
        } else {
            statMemory.set(absolutePath, nil)
            try await metadata.forgetStat(path: absolutePath)
        }
        return outcome
    }

    /// Records media blobs (with when they arrived) for gc's `--drop-media-older-than`. Derived blobs are
    /// not catalogued: an uncatalogued blob is derived, which saves a write on every action's output.
    private func catalog(_ outcome: PutOutcome, kind: BlobKind) async throws(StoreError) -> PutOutcome {
        if kind == .media { try await metadata.catalogMedia(outcome.digest, size: outcome.size, at: Date()) }
        return outcome
    }

    private func identity(of path: String) throws(StoreError) -> StatIdentity {
        guard let info = FileSystem.status(path) else { throw StoreError.from(errno: errno, operation: "stat", path: path) }
        guard info.isRegularFile else { throw StoreError.notRegularFile(path: path, kind: info.kindDescription) }
        return StatIdentity(info)
    }

    // MARK: Results

    /// The result for `key` when every output blob is present, and every member of an output that is a tree;
    /// nil otherwise — a result whose blob (or one frame of whose frames) is gone is a miss, never a broken hit.
    public func lookup(_ key: ActionKey) async throws(StoreError) -> ActionResult? {
        guard let result = try await actionCache.result(forKey: key) else { return nil }
        for digest in result.outputs.values where try await !isWhole(digest) { return nil }
        return result
    }

    /// Whether an output can be reused as it is: its blob is here and, when it is a tree (keyframes), every
    /// member too. The one check behind every cache hit — the engine's, `lookup`'s — so a tree that lost one
    /// frame is a miss everywhere, as `fsck` reports it.
    public func isWhole(_ digest: Digest) async throws(StoreError) -> Bool {
        guard await blobs.contains(digest) else { return false }
        guard try await linkParents().contains(digest) else { return true }
        for child in try await catalog.children(of: digest) where await !blobs.contains(child) { return false }
        return true
    }

    func linkParents() async throws(StoreError) -> Set<Digest> {
        if let known = treeParents.withLock({ $0 }) { return known }
        let loaded = try await catalog.linkParents()
        return treeParents.withLock { parents in
            if parents == nil { parents = loaded }
            return parents!
        }
    }

    /// Records that `parent` (a tree, a snapshot manifest) refers to `children`: whatever keeps the parent
    /// keeps them, and fsck reports a parent whose child is gone.
    public func link(parent: Digest, children: [Digest]) async throws(StoreError) {
        try await catalog.link(parent: parent, children: children)
        if !children.isEmpty { treeParents.withLock { _ = $0?.insert(parent) } }
    }

    /// Commits a result (with its decision and trace, when given) durably, in one step; the bytes of its
    /// outputs are recorded with it. A result of a run also goes into the run's log (`finishRun`).
    public func commit(_ result: ActionResult, event: Event? = nil, trace: Trace? = nil) async throws(StoreError) {
        var result = result
        if result.outputBytes == nil { result.outputBytes = await outputBytes(of: result) }
        try await actionCache.commit(result, event: event, trace: trace)
        if let run = result.runID {
            try await appendToRunLog(run, result)
        } else {
            // A memo (a paid piece, a probe) belongs to no run, but is paid for all the same: the logs of the
            // runs open now keep it too.
            for run in openRuns.withLock({ $0 }).sorted() { try await appendToRunLog(run, result) }
        }
    }

    /// Adds a committed result to its run's log, written as it goes (memory stays flat however many actions
    /// a run executes); the log becomes a blob when the run finishes.
    private func appendToRunLog(_ run: String, _ result: ActionResult) async throws(StoreError) {
        if runLogs.withLock({ $0[run] == nil }) {
            let writer = try await blobs.writer()
            try runLogs.withLock { logs throws(StoreError) in
                guard logs[run] == nil else { return }
                try writer.append(RunLog.headerLine(run))
                logs[run] = writer
            }
        }
        let line = try RunLog.line(result)
        try runLogs.withLock { logs throws(StoreError) in try logs[run]?.append(line) }
    }

    /// Finishes a run: stores the log of the results it committed (`results/RUN`), then records its end.
    public func finishRun(_ id: String, status: RunStatus, summary: String?, at date: Date = Date()) async throws(StoreError) {
        _ = openRuns.withLock { $0.remove(id) }
        if let writer = runLogs.withLock({ $0.removeValue(forKey: id) }) {
            let log = try await writer.commit().digest
            try await refs.setRefs([(Ref.runLogPrefix + id, log)], at: date)
        }
        try await journal.finishRun(id, status: status, summary: summary, at: date)
    }

    func outputBytes(of result: ActionResult) async -> Int64 {
        var total: Int64 = 0
        for digest in Set(result.outputs.values) { total += await blobs.size(of: digest) ?? 0 }
        return total
    }

    // MARK: Runs

    /// Starts a run; its id sorts by time so `acervo runs` lists naturally.
    public func startRun(command: RunCommand, at date: Date = Date()) async throws(StoreError) -> Run {
        let run = Run(id: Run.newID(at: date), command: command, toolVersion: Self.toolVersion, startedAt: date)
        try await journal.startRun(run)
        _ = openRuns.withLock { $0.insert(run.id) }
        return run
    }
}
