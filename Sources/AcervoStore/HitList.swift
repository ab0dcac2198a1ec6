import Foundation
import GRDB

/// The plain cache hits of one run — (item, rule, key) for every action whose stored result was reused as is —
/// kept as one content-addressed blob instead of a row each.
///
/// A nightly build of an unchanged catalog decides tens of thousands of actions, nearly all hits. One event
/// row and one hit-count update per hit made the journal the slowest part of a no-op build; as a blob, the
/// hits cost one write, and nothing at all on a night whose hits are the same as the night before (the blob
/// is already stored). The blob is named by the ref `hits/RUN`, so gc keeps it and fsck checks it.
/// `RunLog.events(run:)` and `ActionCache` read it back, so every decision stays on record.
public struct HitList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Hashable {
        public var itemID: String
        public var rule: String
        public var key: String

        public init(itemID: String, rule: String, key: String) {
            self.itemID = itemID
            self.rule = rule
            self.key = key
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry]) {
        self.entries = entries.sorted { ($0.itemID, $0.rule) < ($1.itemID, $1.rule) }
    }

    static let refPrefix = "hits/"

    /// `item \t rule \t key \n`, sorted: the same hits always make the same bytes.
    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 96)
        for entry in entries {
            bytes += entry.itemID.utf8
            bytes.append(9)
            bytes += entry.rule.utf8
            bytes.append(9)
            bytes += entry.key.utf8
            bytes.append(10)
        }
        return bytes
    }

    init(parsing bytes: [UInt8]) {
        var entries: [Entry] = []
        for line in bytes.split(separator: 10) {
            let fields = line.split(separator: 9, maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            entries.append(Entry(itemID: String(decoding: fields[0], as: UTF8.self), rule: String(decoding: fields[1], as: UTF8.self),
                                 key: String(decoding: fields[2], as: UTF8.self)))
        }
        self.entries = entries
    }
}

extension Store {
    /// Stores a run's plain hits and names them `hits/RUN`.
    public func recordHits(_ hits: HitList, run: String) throws(StoreError) {
        guard !hits.entries.isEmpty else { return }
        let digest = try put(bytes: hits.bytes).digest
        try refs.set(HitList.refPrefix + run, to: digest)
    }

    /// A run's plain hits (empty for a run that had none, or that predates hit lists).
    public func hits(run: String) throws(StoreError) -> HitList {
        guard let ref = try refs.get(HitList.refPrefix + run) else { return HitList([]) }
        return try hitList(ref.digest)
    }

    func hitList(_ digest: Digest) throws(StoreError) -> HitList {
        do {
            return HitList(parsing: try blobs.bytes(of: digest))
        } catch {
            throw StoreError.database(path: database.path, message: "the hit list \(digest) of a run cannot be read (\(error)); run `acervo fsck`")
        }
    }

    /// Every decision of a run: its event rows, then its listed hits (reason `cached`, at the run's start).
    public func events(run id: String) throws(StoreError) -> [Event] {
        let rows = try runLog.events(run: id)
        let hits = try hits(run: id).entries
        guard !hits.isEmpty, let run = try runLog.run(id) else { return rows }
        return rows + hits.map { Event(runID: id, itemID: $0.itemID, rule: $0.rule, key: $0.key, decision: .hit, reason: "cached", at: run.startedAt) }
    }

    /// The listed hits of `item` in the newest run whose hit list mentions it.
    public func latestListedHits(item: String) throws(StoreError) -> [Event] {
        let runs = try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT runs.id AS id, runs.started_at AS started_at, refs.digest AS digest
                FROM refs JOIN runs ON refs.name = ? || runs.id ORDER BY runs.started_at DESC
                """, arguments: [HitList.refPrefix])
        }
        var checked = Set<String>()
        for row in runs {
            let digest: String = row["digest"]
            guard checked.insert(digest).inserted else { continue }
            let entries = try hitList(try Digest(parsing: digest)).entries.filter { $0.itemID == item }
            guard !entries.isEmpty else { continue }
            let at = Date(timeIntervalSince1970: row["started_at"])
            return entries.map { Event(runID: row["id"], itemID: item, rule: $0.rule, key: $0.key, decision: .hit, reason: "cached", at: at) }
        }
        return []
    }

    /// The distinct hit lists of runs started at or after `since`, each with how many runs used it and when
    /// the last of them started — so identical nights are read once.
    func hitListUses(since: Date? = nil) throws(StoreError) -> [(digest: Digest, runs: Int, lastAt: Date)] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT refs.digest AS digest, COUNT(*) AS uses, MAX(runs.started_at) AS last_at
                FROM refs JOIN runs ON refs.name = ? || runs.id
                WHERE runs.started_at >= ?
                GROUP BY refs.digest
                """, arguments: [HitList.refPrefix, (since ?? .distantPast).timeIntervalSince1970]).map { row in
                (try Digest(parsing: row["digest"]), row["uses"], Date(timeIntervalSince1970: row["last_at"]))
            }
        }
    }

    /// How often each result was reused through hit lists (since `since`), and when last.
    public func listedHits(since: Date? = nil) throws(StoreError) -> [String: (count: Int, lastAt: Date)] {
        var usage: [String: (count: Int, lastAt: Date)] = [:]
        for use in try hitListUses(since: since) {
            for entry in try hitList(use.digest).entries {
                let previous = usage[entry.key] ?? (0, .distantPast)
                usage[entry.key] = (previous.count + use.runs, max(previous.lastAt, use.lastAt))
            }
        }
        return usage
    }

    /// Counts, sizes, hits and dollars saved per processor, hits from the lists included.
    public func cacheStatistics() throws(StoreError) -> CacheStatistics {
        try actionCache.statistics(of: try withListedHits(try actionCache.all()))
    }

    /// Results with their hit counts and last use completed from the hit lists.
    public func withListedHits(_ results: [ActionResult]) throws(StoreError) -> [ActionResult] {
        let usage = try listedHits()
        return results.map { result in
            guard let listed = usage[result.key] else { return result }
            var result = result
            result.hitCount += listed.count
            result.lastHitAt = max(result.lastHitAt ?? .distantPast, listed.lastAt)
            return result
        }
    }
}
