import Foundation
import Synchronization

/// Blobs held in memory: for tests and short-lived tools. Programs that need a file (`file(of:)`) get a copy
/// in a private temp folder, removed with the store.
public final class MemoryBlobStore: BlobStore {
    private struct Object {
        var bytes: [UInt8]
        var createdAt: Date
    }
    private let objects = Mutex<[Digest: Object]>([:])
    private let scratch: String

    public init() {
        scratch = NSTemporaryDirectory() + "acervo-memory-" + UUID().uuidString
    }

    deinit { try? FileManager.default.removeItem(atPath: scratch) }

    public func contains(_ digest: Digest) async -> Bool {
        objects.withLock { $0[digest] != nil }
    }

    public func info(_ digest: Digest) async -> BlobInfo? {
        objects.withLock { $0[digest] }.map { BlobInfo(size: Int64($0.bytes.count), modifiedAt: $0.createdAt, location: "memory:\(digest)") }
    }

    public func put(bytes: [UInt8]) async throws(StoreError) -> PutOutcome {
        let digest = Digest.of(bytes)
        // A stored copy of another size is damaged: these bytes replace it.
        let isNew = objects.withLock { objects in
            guard objects[digest]?.bytes.count != bytes.count else { return false }
            objects[digest] = Object(bytes: bytes, createdAt: Date())
            return true
        }
        return PutOutcome(digest: digest, size: Int64(bytes.count), bytesRead: Int64(bytes.count), isNew: isNew)
    }

    public func put(fileAt path: String) async throws(StoreError) -> PutOutcome {
        let file = try POSIXFile.openRegular(path: path)
        var bytes: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while case let count = try file.read(into: buffer), count > 0 { bytes += buffer[0..<count] }
        return try await put(bytes: bytes)
    }

    public func writer() async throws(StoreError) -> any BlobWriter {
        MemoryBlobWriter(store: self)
    }

    public func chunks(of digest: Digest) async throws(StoreError) -> BlobChunks {
        guard let bytes = objects.withLock({ $0[digest]?.bytes }) else { throw .unknownDigest(digest, store: "memory") }
        let cursor = ChunkCursor()
        return BlobChunks { () throws(StoreError) in
            cursor.offset.withLock { start in
                guard start < bytes.count else { return nil }
                let end = min(bytes.count, start + (1 << 20))
                defer { start = end }
                return Array(bytes[start..<end])
            }
        }
    }

    public func file(of digest: Digest) async throws(StoreError) -> String {
        let bytes = try await self.bytes(of: digest)
        let path = scratch + "/" + digest.hex
        if !FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw .io(operation: "create", path: path, errno: EIO) }
        }
        return path
    }

    public func inventory() async throws(StoreError) -> BlobInventory {
        BlobInventory(digests: objects.withLock { Array($0.keys) }, strays: [])
    }

    public func remove(_ digest: Digest) async throws(StoreError) {
        _ = objects.withLock { $0.removeValue(forKey: digest) }
    }

    public func quarantine(_ digest: Digest) async throws(StoreError) -> String {
        _ = objects.withLock { $0.removeValue(forKey: digest) }
        return "memory:quarantine/\(digest.hex)"
    }

    /// Replaces an object's bytes without renaming it: how a test damages a stored blob, as a failing disk
    /// damages a file.
    public func overwrite(_ digest: Digest, with bytes: [UInt8]) {
        objects.withLock { $0[digest]?.bytes = bytes }
    }

    /// An object's bytes as they are, for tests that damage them.
    public func peek(_ digest: Digest) -> [UInt8]? {
        objects.withLock { $0[digest]?.bytes }
    }
}

/// Where an iteration over a memory blob is.
private final class ChunkCursor: Sendable {
    let offset = Mutex(0)
}

private final class MemoryBlobWriter: BlobWriter, @unchecked Sendable {
    // One task owns a writer at a time (see `BlobWriter`).
    private let store: MemoryBlobStore
    private var buffer: [UInt8] = []

    init(store: MemoryBlobStore) {
        self.store = store
    }

    var size: Int64 { Int64(buffer.count) }
    func append(_ bytes: UnsafeRawBufferPointer) throws(StoreError) { buffer += bytes }
    func restart() throws(StoreError) { buffer.removeAll() }
    func commit() async throws(StoreError) -> PutOutcome { try await store.put(bytes: buffer) }
}

/// Metadata held in memory, behind one lock: the small second implementation that keeps the ports honest.
public final class MemoryMetadata: MetadataStore {
    private struct State {
        var results: [ActionKey: ActionResult] = [:]
        var runs: [String: Run] = [:]
        var events: [Event] = []
        var traces: [String: [String: Trace]] = [:]
        var refs: [String: Ref] = [:]
        var pins: [Digest: Pin] = [:]
        var stat: [String: StatEntry] = [:]
        var media: [Digest: MediaBlob] = [:]
        var links = Set<BlobLink>()
        var downloads: [String: DownloadRecord] = [:]
        var search: [Digest: [SearchDocument]] = [:]
        var hitListTotals: [Digest: [String: HitTotals]] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public var location: String { "memory" }

    // MARK: Action cache

    public func commit(_ result: ActionResult, event: Event?, trace: Trace?) async throws(StoreError) {
        state.withLock { state in
            state.results[result.key] = result
            if let event { state.events.append(event) }
            if let trace { state.traces[trace.itemID, default: [:]][trace.rule] = trace }
        }
    }

    public func result(forKey key: ActionKey) async throws(StoreError) -> ActionResult? {
        state.withLock { $0.results[key] }
    }

    public func results(keyPrefix prefix: String, limit: Int) async throws(StoreError) -> (matches: [ActionResult], total: Int) {
        let matches = newestFirst(state.withLock { $0.results.values.filter { $0.key.hex.hasPrefix(prefix.lowercased()) } })
        return (Array(matches.prefix(limit)), matches.count)
    }

    public func results(processor: String?) async throws(StoreError) -> [ActionResult] {
        newestFirst(state.withLock { $0.results.values.filter { processor == nil || $0.processor == processor } })
    }

    private func newestFirst(_ results: [ActionResult]) -> [ActionResult] {
        results.sorted { ($1.createdAt, $0.key) < ($0.createdAt, $1.key) }
    }

    public func removeResults(_ keys: [ActionKey]) async throws(StoreError) {
        state.withLock { state in for key in keys { state.results[key] = nil } }
    }

    public func recordHit(_ key: ActionKey, at date: Date) async throws(StoreError) {
        state.withLock { state in
            state.results[key]?.hitCount += 1
            state.results[key]?.lastHitAt = date
        }
    }

    public func outputIndex(named name: String) async throws(StoreError) -> [ActionKey: Digest] {
        state.withLock { $0.results.compactMapValues { $0.outputs[name] } }
    }

    public func resultTotals() async throws(StoreError) -> [CacheStatistics.Row] {
        var rows: [String: CacheStatistics.Row] = [:]
        for result in state.withLock({ Array($0.results.values) }) {
            rows[result.processor, default: .init(processor: result.processor)].add(CacheStatistics.Row(
                processor: result.processor, entries: 1, bytes: result.outputBytes ?? 0, hits: result.hitCount,
                savedUSD: result.costUSD * Double(result.hitCount), spentUSD: result.runID == nil ? 0 : result.costUSD))
        }
        return Array(rows.values)
    }

    public func unsizedResults() async throws(StoreError) -> [ActionResult] {
        newestFirst(state.withLock { $0.results.values.filter { $0.outputBytes == nil } })
    }

    public func recordOutputBytes(_ bytes: [ActionKey: Int64]) async throws(StoreError) {
        state.withLock { state in for (key, size) in bytes { state.results[key]?.outputBytes = size } }
    }

    // MARK: Journal

    public func startRun(_ run: Run) async throws(StoreError) {
        state.withLock { $0.runs[run.id] = run }
    }

    public func finishRun(_ id: String, status: RunStatus, summary: String?, at date: Date) async throws(StoreError) {
        state.withLock { state in
            state.runs[id]?.status = status
            state.runs[id]?.summary = summary
            state.runs[id]?.endedAt = date
        }
    }

    public func closeAbandonedRuns() async throws(StoreError) -> [String] {
        state.withLock { state in
            let ids = state.runs.values.filter { $0.status == .running }.sorted { $0.startedAt < $1.startedAt }.map(\.id)
            for id in ids {
                guard var run = state.runs[id] else { continue }
                run.status = .interrupted
                run.endedAt = state.events.filter { $0.runID == id }.map(\.at).max() ?? run.startedAt
                state.runs[id] = run
            }
            return ids
        }
    }

    public func runs(limit: Int) async throws(StoreError) -> [Run] {
        Array(state.withLock { $0.runs.values }.sorted { $0.startedAt > $1.startedAt }.prefix(limit))
    }

    public func run(_ id: String) async throws(StoreError) -> Run? {
        state.withLock { $0.runs[id] }
    }

    public func record(_ decisions: [DecisionRecord]) async throws(StoreError) {
        state.withLock { state in
            for decision in decisions {
                state.events.append(decision.event)
                if let trace = decision.trace { state.traces[trace.itemID, default: [:]][trace.rule] = trace }
                if let key = decision.hitKey, var result = state.results[key] {
                    result.hitCount += 1
                    result.lastHitAt = max(result.lastHitAt ?? .distantPast, decision.event.at)
                    state.results[key] = result
                }
            }
        }
    }

    public func events(run id: String) async throws(StoreError) -> [Event] {
        state.withLock { $0.events.filter { $0.runID == id } }
    }

    public func events(item: String) async throws(StoreError) -> [Event] {
        state.withLock { $0.events.filter { $0.itemID == item } }.reversed()
    }

    public func spending(runs ids: [String]) async throws(StoreError) -> [SpendRecord] {
        let runs = Set(ids)
        return state.withLock { state in
            state.events.filter { runs.contains($0.runID) && ($0.costUSD > 0 || $0.estimate != nil) }.map { event in
                SpendRecord(runID: event.runID, itemID: event.itemID, rule: event.rule, processor: event.key.flatMap { state.results[$0]?.processor },
                            decision: event.decision, costUSD: event.costUSD, estimate: event.estimate, at: event.at)
            }
        }
    }

    public func traces(item: String) async throws(StoreError) -> [Trace] {
        state.withLock { $0.traces[item]?.values.sorted { $0.rule < $1.rule } ?? [] }
    }

    public func trace(item: String, rule: String) async throws(StoreError) -> Trace? {
        state.withLock { $0.traces[item]?[rule] }
    }

    public func traceKeys() async throws(StoreError) -> [String: [String: ActionKey]] {
        state.withLock { $0.traces.mapValues { $0.mapValues(\.key) } }
    }

    public func setHitList(_ digest: Digest, run: String, at date: Date) async throws(StoreError) {
        try await setRefs([(Ref.hitListPrefix + run, digest)], at: date)
    }

    public func hitLists(since: Date?) async throws(StoreError) -> [HitListRecord] {
        state.withLock { state in
            state.refs.values.compactMap { ref -> HitListRecord? in
                guard ref.name.hasPrefix(Ref.hitListPrefix), let run = state.runs[String(ref.name.dropFirst(Ref.hitListPrefix.count))],
                      run.startedAt >= (since ?? .distantPast) else { return nil }
                return HitListRecord(runID: run.id, startedAt: run.startedAt, digest: ref.digest)
            }
        }.sorted { $0.startedAt > $1.startedAt }
    }

    public func hitListTotals(_ digests: [Digest]) async throws(StoreError) -> [Digest: [String: HitTotals]] {
        state.withLock { state in
            var found: [Digest: [String: HitTotals]] = [:]
            for digest in digests { if let totals = state.hitListTotals[digest] { found[digest] = totals } }
            return found
        }
    }

    public func recordHitListTotals(_ totals: [Digest: [String: HitTotals]]) async throws(StoreError) {
        state.withLock { state in state.hitListTotals.merge(totals) { _, new in new } }
    }

    // MARK: Refs and pins

    public func setRefs(_ refs: [(name: String, digest: Digest)], at date: Date) async throws(StoreError) {
        state.withLock { state in for ref in refs { state.refs[ref.name] = Ref(name: ref.name, digest: ref.digest, updatedAt: date) } }
    }

    public func ref(_ name: String) async throws(StoreError) -> Ref? {
        state.withLock { $0.refs[name] }
    }

    public func deleteRefs(_ names: [String]) async throws(StoreError) {
        state.withLock { state in for name in names { state.refs[name] = nil } }
    }

    public func refs(prefix: String?) async throws(StoreError) -> [Ref] {
        state.withLock { $0.refs.values.filter { prefix == nil || $0.name.hasPrefix(prefix!) } }
            .sorted { ($1.updatedAt, $0.name) < ($0.updatedAt, $1.name) }
    }

    public func pin(_ digest: Digest, note: String, at date: Date) async throws(StoreError) {
        state.withLock { $0.pins[digest] = Pin(digest: digest, note: note, createdAt: date) }
    }

    public func unpin(_ digest: Digest) async throws(StoreError) {
        _ = state.withLock { $0.pins.removeValue(forKey: digest) }
    }

    public func pins() async throws(StoreError) -> [Pin] {
        state.withLock { Array($0.pins.values) }.sorted { $0.createdAt > $1.createdAt }
    }

    // MARK: Stat cache, catalog, downloads

    public func statEntries() async throws(StoreError) -> [String: StatEntry] {
        state.withLock { $0.stat }
    }

    public func recordStat(_ entry: StatEntry, path: String) async throws(StoreError) {
        state.withLock { $0.stat[path] = entry }
    }

    public func forgetStat(path: String) async throws(StoreError) {
        state.withLock { $0.stat[path] = nil }
    }

    public func catalogMedia(_ digest: Digest, size: Int64, at date: Date) async throws(StoreError) {
        state.withLock { state in
            if state.media[digest] == nil { state.media[digest] = MediaBlob(digest: digest, createdAt: date) }
        }
    }

    public func mediaBlobs() async throws(StoreError) -> [MediaBlob] {
        state.withLock { Array($0.media.values) }
    }

    public func link(parent: Digest, children: [Digest]) async throws(StoreError) {
        state.withLock { state in for child in children { state.links.insert(BlobLink(parent: parent, child: child)) } }
    }

    public func links() async throws(StoreError) -> [BlobLink] {
        state.withLock { Array($0.links) }
    }

    public func integrityProblem() async -> String? { nil }

    public func consistentSnapshot() async throws(StoreError) -> MetadataSnapshot {
        state.withLock { state in
            MetadataSnapshot(results: Array(state.results.values), refs: Array(state.refs.values), pins: Array(state.pins.values),
                             links: Array(state.links))
        }
    }

    public func linkParents() async throws(StoreError) -> Set<Digest> {
        state.withLock { Set($0.links.map(\.parent)) }
    }

    public func children(of parent: Digest) async throws(StoreError) -> [Digest] {
        state.withLock { $0.links.filter { $0.parent == parent }.map(\.child) }
    }

    public func forgetBlobs(_ digests: Set<Digest>) async throws(StoreError) {
        state.withLock { state in
            for digest in digests { state.media[digest] = nil }
            state.links = state.links.filter { !digests.contains($0.parent) }
        }
    }

    public func downloadRecord(for url: String) async throws(StoreError) -> DownloadRecord? {
        state.withLock { $0.downloads[url] }
    }

    public func rememberDownload(_ record: DownloadRecord, at date: Date) async throws(StoreError) {
        state.withLock { $0.downloads[record.url] = record }
    }

    // MARK: Search: every word must occur (case and accents folded); title matches weigh four times body ones.

    public func isIndexed(_ collection: Digest) async throws(StoreError) -> Bool {
        state.withLock { $0.search[collection] != nil }
    }

    public func index(_ collection: Digest, documents: [SearchDocument]) async throws(StoreError) {
        state.withLock { $0.search[collection] = documents }
    }

    public func search(_ collection: Digest, query: SearchQuery, filters: [String: String], limit: Int) async throws(StoreError) -> [SearchHit] {
        let wanted = query.words.map(Self.fold)
        let documents = state.withLock { $0.search[collection] ?? [] }
        var hits: [SearchHit] = []
        for document in documents where filters.allSatisfy({ document.attributes[$0.key] == $0.value }) {
            let title = Self.words(document.title).map(Self.fold)
            let body = Self.words(document.body)
            let foldedBody = body.map(Self.fold)
            guard wanted.allSatisfy({ title.contains($0) || foldedBody.contains($0) }) else { continue }
            let score = wanted.reduce(0) { total, word in
                total + 4 * title.filter { $0 == word }.count + foldedBody.filter { $0 == word }.count
            }
            let first = foldedBody.firstIndex { wanted.contains($0) } ?? 0
            let window = max(0, first - 6)..<min(body.count, first + 8)
            let snippet = window.map { wanted.contains(foldedBody[$0]) ? "[\(body[$0])]" : String(body[$0]) }.joined(separator: " ")
            hits.append(SearchHit(item: document.item, title: document.title, attributes: document.attributes,
                                  snippet: (window.lowerBound > 0 ? "…" : "") + snippet + (window.upperBound < body.count ? "…" : ""),
                                  rank: -Double(score)))
        }
        return Array(hits.sorted { ($0.rank, $0.item) < ($1.rank, $1.item) }.prefix(limit))
    }

    private static func words(_ text: String) -> [Substring] {
        text.split { !$0.isLetter && !$0.isNumber }
    }

    private static func fold(_ word: some StringProtocol) -> String {
        word.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
    }
}
