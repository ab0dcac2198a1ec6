import Crypto
import Foundation

// The ports: what a backend must do for Acervo to keep its promises. `Store` (the facade every other module
// uses) is written against these alone, so the SQLite and file implementations of today, the in-memory one the
// tests use, and PostgreSQL or a remote cache later are interchangeable — and `StoreConformance` in the tests
// holds each of them to the same behaviour.
//
// Every method is async: a backend may be a file system, a database across the network or an HTTP cache, and
// none of them may block Swift's cooperative threads while it waits.

/// What a put did: the blob's digest and size, how many bytes were read to learn it, and whether the bytes
/// were new to the store.
public struct PutOutcome: Sendable, Equatable {
    public let digest: Digest
    public let size: Int64
    public let bytesRead: Int64
    public let isNew: Bool

    public init(digest: Digest, size: Int64, bytesRead: Int64, isNew: Bool) {
        self.digest = digest
        self.size = size
        self.bytesRead = bytesRead
        self.isNew = isNew
    }
}

/// An object being written piece by piece (a download): hashed as it is written, named by its digest only
/// when committed. Owned by one task at a time.
public protocol BlobWriter: AnyObject, Sendable {
    /// Bytes written since the start (or the last `restart`).
    var size: Int64 { get }
    func append(_ bytes: UnsafeRawBufferPointer) throws(StoreError)
    /// Drops what was written (a server that ignored a `Range` sends everything again).
    func restart() throws(StoreError)
    /// Makes the object durable and names it by its digest.
    func commit() async throws(StoreError) -> PutOutcome
}

extension BlobWriter {
    public func append(_ bytes: [UInt8]) throws(StoreError) {
        var failure: StoreError?
        bytes.withUnsafeBytes { buffer in
            do throws(StoreError) { try append(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// Where a blob's bytes are and how old it is, for gc's grace period and fsck's report.
public struct BlobInfo: Sendable, Equatable {
    public var size: Int64
    public var modifiedAt: Date
    /// A path that names it, for messages (a file, or a label such as `memory:sha256:…`).
    public var location: String

    public init(size: Int64, modifiedAt: Date, location: String) {
        self.size = size
        self.modifiedAt = modifiedAt
        self.location = location
    }
}

/// Every object a blob store holds, and entries that are not objects (fsck reports those).
public struct BlobInventory: Sendable, Equatable {
    public var digests: [Digest]
    public var strays: [String]

    public init(digests: [Digest], strays: [String]) {
        self.digests = digests
        self.strays = strays
    }
}

/// Content-addressed, immutable bytes. Identical bytes are stored once; a reader never sees a partial object;
/// an object is durable when a put returns.
public protocol BlobStore: Sendable {
    func contains(_ digest: Digest) async -> Bool
    /// Size and age, or nil when the blob is absent.
    func info(_ digest: Digest) async -> BlobInfo?
    func put(bytes: [UInt8]) async throws(StoreError) -> PutOutcome
    /// Copies a file in, reading it once.
    func put(fileAt path: String) async throws(StoreError) -> PutOutcome
    func writer() async throws(StoreError) -> any BlobWriter
    /// The blob's bytes as chunks of at most about a MiB, read as they are consumed: memory stays bounded
    /// whatever the blob's size. Throws `StoreError.unknownDigest` when it is absent.
    func chunks(of digest: Digest) async throws(StoreError) -> BlobChunks
    /// A path that other programs (ffmpeg, tesseract) can read the blob at, valid while the store is open.
    func file(of digest: Digest) async throws(StoreError) -> String
    func inventory() async throws(StoreError) -> BlobInventory
    /// Deletes a blob; an absent blob is fine. Only gc and repair call this, under the store lock.
    func remove(_ digest: Digest) async throws(StoreError)
    /// Moves a corrupt object aside, keeping its bytes as evidence; returns where it went.
    func quarantine(_ digest: Digest) async throws(StoreError) -> String
}

/// A blob's bytes, chunk by chunk: `next` returns nil at the end.
public struct BlobChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    private let next: @Sendable () async throws(StoreError) -> [UInt8]?

    public init(next: @escaping @Sendable () async throws(StoreError) -> [UInt8]?) {
        self.next = next
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let next: @Sendable () async throws(StoreError) -> [UInt8]?
        public mutating func next() async throws -> [UInt8]? { try await next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(next: next) }

    /// Every chunk, in order, to `body`; the first error (reading, or `body`'s) ends it.
    public func forEach(_ body: ([UInt8]) throws(StoreError) -> Void) async throws(StoreError) {
        while let chunk = try await next() { try body(chunk) }
    }
}

extension BlobStore {
    /// A blob's bytes in memory, checked against their digest; for small blobs (trees, manifests, documents)
    /// only. Bytes that do not match are moved to quarantine and never returned: `StoreError.corrupt`.
    public func bytes(of digest: Digest) async throws(StoreError) -> [UInt8] {
        var bytes: [UInt8] = []
        try await chunks(of: digest).forEach { bytes += $0 }
        guard Digest(SHA256.hash(data: bytes)) == digest else { throw await corrupt(digest) }
        return bytes
    }

    /// Reads a whole blob through SHA-256 without keeping it: what to call before streaming a large blob out
    /// (`acervo cat`), so that damaged bytes are quarantined instead of shipped.
    public func verify(_ digest: Digest) async throws(StoreError) {
        guard try await rehash(digest).digest == digest else { throw await corrupt(digest) }
    }

    /// The digest the stored bytes actually have, and how many there are.
    public func rehash(_ digest: Digest) async throws(StoreError) -> (digest: Digest, size: Int64) {
        var hasher = SHA256()
        var count: Int64 = 0
        try await chunks(of: digest).forEach { chunk in
            hasher.update(data: chunk)
            count += Int64(chunk.count)
        }
        return (Digest(hasher.finalize()), count)
    }

    /// Quarantines damaged bytes (where possible) and says so.
    private func corrupt(_ digest: Digest) async -> StoreError {
        .corrupt(digest, quarantinedTo: try? await quarantine(digest))
    }

    public func size(of digest: Digest) async -> Int64? {
        await info(digest)?.size
    }

    /// Stores a stream of chunks (a process's output) without ever holding it whole in memory.
    public func put<Chunks: AsyncSequence>(stream chunks: Chunks) async throws -> PutOutcome where Chunks.Element == [UInt8] {
        let writer = try await writer()
        for try await chunk in chunks {
            try Task.checkCancellation()
            try chunk.withUnsafeBytes { try writer.append($0) }
        }
        return try await writer.commit()
    }
}

/// Key → result. A result is committed together with its decision and trace, in one durable step, so the
/// three never disagree after a crash.
public protocol ActionCache: Sendable {
    func commit(_ result: ActionResult, event: Event?, trace: Trace?) async throws(StoreError)
    /// The stored result, whether or not its blobs exist (`Store.lookup` checks them).
    func result(forKey key: ActionKey) async throws(StoreError) -> ActionResult?
    /// Results whose key starts with `prefix` (hex), at most `limit`, and how many there are in all.
    func results(keyPrefix prefix: String, limit: Int) async throws(StoreError) -> (matches: [ActionResult], total: Int)
    /// Every result, newest first; `processor` filters.
    func results(processor: String?) async throws(StoreError) -> [ActionResult]
    /// Drops results (their blobs stay; gc decides about those).
    func removeResults(_ keys: [ActionKey]) async throws(StoreError)
    /// Counts a reuse outside a run's hit list (a per-frame memo, say).
    func recordHit(_ key: ActionKey, at date: Date) async throws(StoreError)
    /// Every result's output called `name`, by key, in one read: a build looks up tens of thousands of keys.
    func outputIndex(named name: String) async throws(StoreError) -> [ActionKey: Digest]
    /// Counts, bytes, hits and dollars per processor, aggregated by the backend (no result is loaded).
    /// Results stored before their size was recorded count no bytes; `unsizedResults` lists them.
    func resultTotals() async throws(StoreError) -> [CacheStatistics.Row]
    func unsizedResults() async throws(StoreError) -> [ActionResult]
    func recordOutputBytes(_ bytes: [ActionKey: Int64]) async throws(StoreError)
}

/// Runs, their decisions, traces and hit lists.
public protocol RunJournal: Sendable {
    func startRun(_ run: Run) async throws(StoreError)
    func finishRun(_ id: String, status: RunStatus, summary: String?, at date: Date) async throws(StoreError)
    /// Closes as `interrupted` every run still `running`, ended at its last recorded decision (else its
    /// start); returns their ids. Called by whoever just took the store's writer lock: no live process can
    /// be writing those runs, so their process died (SIGKILL, the OOM killer, a power loss).
    func closeAbandonedRuns() async throws(StoreError) -> [String]
    /// The newest runs first.
    func runs(limit: Int) async throws(StoreError) -> [Run]
    func run(_ id: String) async throws(StoreError) -> Run?
    /// Records decisions in one step: their events, their traces, and the hit counts of reused results.
    func record(_ decisions: [DecisionRecord]) async throws(StoreError)
    /// A run's recorded events in the order they were recorded (listed hits are in its hit list).
    func events(run id: String) async throws(StoreError) -> [Event]
    /// An item's recorded events, newest first.
    func events(item: String) async throws(StoreError) -> [Event]
    /// The events of `runs` that cost money or carried an estimate, with their results' processors.
    func spending(runs: [String]) async throws(StoreError) -> [SpendRecord]
    func traces(item: String) async throws(StoreError) -> [Trace]
    func trace(item: String, rule: String) async throws(StoreError) -> Trace?
    /// The current key of every (item, rule), in one read: a build compares tens of thousands of keys.
    func traceKeys() async throws(StoreError) -> [String: [String: ActionKey]]
    /// Names `digest` as the hit list of `run` (and keeps it from gc).
    func setHitList(_ digest: Digest, run: String, at date: Date) async throws(StoreError)
    /// Hit lists of runs started at or after `since`, newest run first.
    func hitLists(since: Date?) async throws(StoreError) -> [HitListRecord]
    /// What each of `digests` (hit lists) adds per processor, for those already totalled. A list is totalled
    /// once (its entries joined with the results they hit) and kept: statistics then read a few rows, however
    /// long the history. A list totalled with nothing (its results collected) is known, with no processor.
    func hitListTotals(_ digests: [Digest]) async throws(StoreError) -> [Digest: [String: HitTotals]]
    func recordHitListTotals(_ totals: [Digest: [String: HitTotals]]) async throws(StoreError)
}

/// Names for blobs, and pins.
public protocol RefStore: Sendable {
    /// Sets several refs in one durable step (a build names its snapshot twice).
    func setRefs(_ refs: [(name: String, digest: Digest)], at date: Date) async throws(StoreError)
    func ref(_ name: String) async throws(StoreError) -> Ref?
    func deleteRefs(_ names: [String]) async throws(StoreError)
    /// Refs (only those under `prefix` when given), newest first.
    func refs(prefix: String?) async throws(StoreError) -> [Ref]
    func pin(_ digest: Digest, note: String, at date: Date) async throws(StoreError)
    func unpin(_ digest: Digest) async throws(StoreError)
    func pins() async throws(StoreError) -> [Pin]
}

/// (device, inode, size, mtime, ctime) of a local file → its digest; see `StatIdentity`.
public protocol StatCache: Sendable {
    func statEntries() async throws(StoreError) -> [String: StatEntry]
    func recordStat(_ entry: StatEntry, path: String) async throws(StoreError)
    func forgetStat(path: String) async throws(StoreError)
}

/// Which blobs are raw media (and since when), and which blobs refer to which.
public protocol BlobCatalog: Sendable {
    func catalogMedia(_ digest: Digest, size: Int64, at date: Date) async throws(StoreError)
    func mediaBlobs() async throws(StoreError) -> [MediaBlob]
    func link(parent: Digest, children: [Digest]) async throws(StoreError)
    func links() async throws(StoreError) -> [BlobLink]
    /// Every blob that has members (trees, manifests, hit lists).
    func linkParents() async throws(StoreError) -> Set<Digest>
    /// A parent's members.
    func children(of parent: Digest) async throws(StoreError) -> [Digest]
    /// Forgets blobs that were deleted: their media entries and the links they were the parent of.
    func forgetBlobs(_ digests: Set<Digest>) async throws(StoreError)
}

/// What remote URLs held when last fetched.
public protocol DownloadRecords: Sendable {
    func downloadRecord(for url: String) async throws(StoreError) -> DownloadRecord?
    func rememberDownload(_ record: DownloadRecord, at date: Date) async throws(StoreError)
}

/// Full-text search over collections of documents (a collection is a snapshot, named by its digest, so it is
/// indexed once and never changes). Accents are optional in queries.
public protocol SearchIndex: Sendable {
    func isIndexed(_ collection: Digest) async throws(StoreError) -> Bool
    func index(_ collection: Digest, documents: [SearchDocument]) async throws(StoreError)
    /// Documents holding every word of `query`, best first; `filters` match attributes exactly.
    func search(_ collection: Digest, query: SearchQuery, filters: [String: String], limit: Int) async throws(StoreError) -> [SearchHit]
}

/// Everything a metadata backend does: one conformance (SQLite, in memory, PostgreSQL).
public protocol MetadataStore: ActionCache, RunJournal, RefStore, StatCache, BlobCatalog, DownloadRecords, SearchIndex {
    /// Where the metadata lives, for messages.
    var location: String { get }
    /// Results, refs, pins and links as of one moment (one read transaction).
    func consistentSnapshot() async throws(StoreError) -> MetadataSnapshot
    /// What is wrong with the metadata's own storage (SQLite's `quick_check`), or nil when nothing is.
    func integrityProblem() async -> String?
}

/// What fsck checks, read at one moment: a build committing while fsck reads cannot make it see a result
/// whose blob it has not listed.
public struct MetadataSnapshot: Sendable {
    public var results: [ActionResult]
    public var refs: [Ref]
    public var pins: [Pin]
    public var links: [BlobLink]

    public init(results: [ActionResult], refs: [Ref], pins: [Pin], links: [BlobLink]) {
        self.results = results
        self.refs = refs
        self.pins = pins
        self.links = links
    }
}
