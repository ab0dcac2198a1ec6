import Foundation
import GRDB

/// The outcome of one action: the digests it produced and what producing them cost.
///
/// `key` is the hex action key computed by the engine; the store treats it as an opaque name.
public struct ActionResult: Sendable, Equatable, Codable {
    public var key: String
    public var processor: String
    public var processorVersion: String
    public var outputs: [String: Digest]
    public var provider: String?
    public var model: String?
    /// Provider usage figures as reported (tokens, billed seconds, …), kept for audits of `costUSD`.
    public var usage: [String: Double]
    public var costUSD: Double
    public var durationSeconds: Double
    public var runID: String?
    public var toolVersion: String
    public var createdAt: Date
    public var hitCount: Int
    public var lastHitAt: Date?

    public init(
        key: String, processor: String, processorVersion: String, outputs: [String: Digest],
        provider: String? = nil, model: String? = nil, usage: [String: Double] = [:], costUSD: Double = 0,
        durationSeconds: Double = 0, runID: String? = nil, toolVersion: String, createdAt: Date = Date(),
        hitCount: Int = 0, lastHitAt: Date? = nil
    ) {
        self.key = key
        self.processor = processor
        self.processorVersion = processorVersion
        self.outputs = outputs
        self.provider = provider
        self.model = model
        self.usage = usage
        self.costUSD = costUSD
        self.durationSeconds = durationSeconds
        self.runID = runID
        self.toolVersion = toolVersion
        self.createdAt = createdAt
        self.hitCount = hitCount
        self.lastHitAt = lastHitAt
    }
}

/// Per-processor totals for `acervo cache stats`.
public struct CacheStatistics: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var processor: String
        public var entries: Int
        public var bytes: Int64
        public var hits: Int
        /// Sum over results of cost × hits: what the cache kept from being paid again.
        public var savedUSD: Double
        public var spentUSD: Double

        init(processor: String) {
            self.processor = processor
            entries = 0
            bytes = 0
            hits = 0
            savedUSD = 0
            spentUSD = 0
        }

        mutating func add(_ result: ActionResult, bytes outputBytes: Int64) {
            entries += 1
            bytes += outputBytes
            hits += result.hitCount
            savedUSD += result.costUSD * Double(result.hitCount)
            spentUSD += result.costUSD
        }
    }
    public var processors: [Row]
    public var total: Row
}

/// Key → result, with the rule that a result whose output blobs are gone is a miss, never a broken hit.
public struct ActionCache: Sendable {
    let database: MetadataDatabase
    let blobs: BlobStore

    /// Stores a result in one durable transaction, together with whatever else the caller writes (its event,
    /// its trace) so the three never disagree after a crash.
    public func commit(_ result: ActionResult, alsoIn body: (Database) throws -> Void = { _ in }) throws(StoreError) {
        // Non-finite figures (a provider reporting NaN) cannot be JSON; they are dropped, never a crash.
        let usage = String(decoding: try! JSONEncoder.canonical.encode(result.usage.filter { $0.value.isFinite }), as: UTF8.self)
        try database.write { db in
            try db.execute(sql: "DELETE FROM action_results WHERE key = ?", arguments: [result.key])
            try db.execute(
                sql: """
                    INSERT INTO action_results (key, processor, processor_version, provider, model, usage, cost_usd,
                        duration_seconds, run_id, tool_version, created_at, hit_count, last_hit_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    result.key, result.processor, result.processorVersion, result.provider, result.model, usage,
                    result.costUSD, result.durationSeconds, result.runID, result.toolVersion,
                    result.createdAt.timeIntervalSince1970, result.hitCount, result.lastHitAt?.timeIntervalSince1970,
                ])
            for (name, digest) in result.outputs {
                try db.execute(
                    sql: "INSERT INTO result_outputs (key, name, digest) VALUES (?, ?, ?)",
                    arguments: [result.key, name, digest.description])
            }
            try body(db)
        }
    }

    /// The result for `key` when every output blob is present; `nil` otherwise.
    public func lookup(_ key: String) throws(StoreError) -> ActionResult? {
        guard let result = try result(forKey: key) else { return nil }
        return result.outputs.values.allSatisfy(blobs.contains) ? result : nil
    }

    /// Counts a reuse; `cache stats` turns these into dollars saved.
    public func recordHit(_ key: String, at date: Date = Date()) throws(StoreError) {
        try database.write { db in
            try db.execute(
                sql: "UPDATE action_results SET hit_count = hit_count + 1, last_hit_at = ? WHERE key = ?",
                arguments: [date.timeIntervalSince1970, key])
        }
    }

    /// The stored result, whether or not its blobs exist.
    public func result(forKey key: String) throws(StoreError) -> ActionResult? {
        try database.read { db in try Self.fetch(db, whereSQL: "key = ?", [key]).first }
    }

    /// Finds a result by a unique key prefix, as `git` resolves abbreviated commits.
    public func resolve(prefix: String) throws(StoreError) -> ActionResult {
        let cleaned = prefix.lowercased()
        guard !cleaned.isEmpty, cleaned.allSatisfy(\.isHexDigit) else { throw .unknownActionKey(prefix) }
        let matches = try database.read { db in
            try Self.fetch(db, whereSQL: "key LIKE ?", [cleaned + "%"], limit: 2)
        }
        switch matches.count {
        case 0: throw .unknownActionKey(prefix)
        case 1: return matches[0]
        default:
            let count = try database.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM action_results WHERE key LIKE ?", arguments: [cleaned + "%"]) ?? 0
            }
            throw .ambiguousActionKey(prefix, matches: count)
        }
    }

    /// Every result, newest first; `processor` filters.
    public func all(processor: String? = nil) throws(StoreError) -> [ActionResult] {
        try database.read { db in
            if let processor { return try Self.fetch(db, whereSQL: "processor = ?", [processor]) }
            return try Self.fetch(db, whereSQL: "1", [])
        }
    }

    /// Drops results (their blobs stay; gc decides about those).
    public func remove(keys: [String]) throws(StoreError) {
        guard !keys.isEmpty else { return }
        try database.write { db in
            for key in keys { try db.execute(sql: "DELETE FROM action_results WHERE key = ?", arguments: [key]) }
        }
    }

    func statistics(of results: [ActionResult]) -> CacheStatistics {
        var rows: [String: CacheStatistics.Row] = [:]
        var total = CacheStatistics.Row(processor: "total")
        for result in results {
            let bytes = Set(result.outputs.values).reduce(Int64(0)) { $0 + (blobs.size(of: $1) ?? 0) }
            rows[result.processor, default: .init(processor: result.processor)].add(result, bytes: bytes)
            total.add(result, bytes: bytes)
        }
        return CacheStatistics(processors: rows.values.sorted { $0.processor < $1.processor }, total: total)
    }

    static func fetch(_ db: Database, whereSQL: String, _ arguments: StatementArguments, limit: Int? = nil) throws -> [ActionResult] {
        let limitSQL = limit.map { " LIMIT \($0)" } ?? ""
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM action_results WHERE \(whereSQL) ORDER BY created_at DESC, key\(limitSQL)",
            arguments: arguments)
        return try rows.map { row in
            let key: String = row["key"]
            var outputs: [String: Digest] = [:]
            for output in try Row.fetchAll(db, sql: "SELECT name, digest FROM result_outputs WHERE key = ?", arguments: [key]) {
                outputs[output["name"]] = try Digest(parsing: output["digest"])
            }
            let usageText: String? = row["usage"]
            let usage = usageText.flatMap { try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) } ?? [:]
            let lastHit: Double? = row["last_hit_at"]
            return ActionResult(
                key: key, processor: row["processor"], processorVersion: row["processor_version"], outputs: outputs,
                provider: row["provider"], model: row["model"], usage: usage, costUSD: row["cost_usd"],
                durationSeconds: row["duration_seconds"], runID: row["run_id"], toolVersion: row["tool_version"],
                createdAt: Date(timeIntervalSince1970: row["created_at"]), hitCount: row["hit_count"],
                lastHitAt: lastHit.map(Date.init(timeIntervalSince1970:)))
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, no whitespace: the same value always encodes to the same bytes. Every stored JSON blob
    /// (trees, manifests, transcripts) uses it, so equal values are equal blobs and early cutoff works.
    public static var canonical: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension ActionCache {
    /// Every result's output called `name`, by key, read in one query: a build looks up tens of thousands of
    /// keys, and one query per key would dominate a no-op build. Results without that output are left out.
    public func outputIndex(named name: String) throws(StoreError) -> [String: Digest] {
        try database.read { db in
            var index: [String: Digest] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT key, digest FROM result_outputs WHERE name = ?", arguments: [name])
            while let row = try rows.next() {
                index[row[0] as String] = try Digest(parsing: row[1] as String)
            }
            return index
        }
    }
}

/// A decision that needs no durability of its own (a cache hit, a skip, a failure): recorded in batches,
/// because losing the last few of these in a crash costs nothing, while one fsync per hit would make a
/// no-op build slow.
public struct DecisionRecord: Sendable {
    public var event: Event
    /// For hits: the reused result, whose hit count and last use advance.
    public var hitKey: String?
    public var trace: Trace?

    public init(event: Event, hitKey: String? = nil, trace: Trace? = nil) {
        self.event = event
        self.hitKey = hitKey
        self.trace = trace
    }
}

extension Store {
    /// Records a batch of decisions in one transaction.
    public func record(_ decisions: [DecisionRecord]) throws(StoreError) {
        guard !decisions.isEmpty else { return }
        // Multi-row statements: a no-op build records one event and one hit per action, and per-row statements
        // would cost more than the rows.
        try database.write { db in
            for chunk in decisions.chunked(Self.rowsPerStatement) {
                try Event.insert(chunk.map(\.event)[...], db)
            }
            for decision in decisions { try decision.trace?.upsert(db) }
            var hits: [String: (count: Int, at: Double)] = [:]
            for decision in decisions {
                guard let key = decision.hitKey else { continue }
                let previous = hits[key] ?? (0, 0)
                hits[key] = (previous.count + 1, max(previous.at, decision.event.at.timeIntervalSince1970))
            }
            let at = hits.values.map(\.at).max() ?? 0
            for chunk in hits.filter({ $0.value.count == 1 }).map(\.key).chunked(Self.rowsPerStatement) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                try db.cachedStatement(sql: "UPDATE action_results SET hit_count = hit_count + 1, last_hit_at = ? WHERE key IN (\(placeholders))")
                    .execute(arguments: [at] + StatementArguments(Array(chunk)))
            }
            for (key, hit) in hits where hit.count > 1 {
                try db.cachedStatement(sql: "UPDATE action_results SET hit_count = hit_count + ?, last_hit_at = ? WHERE key = ?")
                    .execute(arguments: [hit.count, hit.at, key])
            }
        }
    }

    /// Rows per multi-row statement: 10 columns × 90 stays under SQLite's oldest parameter limit (999).
    static let rowsPerStatement = 90

    /// Commits an executed action: its result, its event and its trace, durably, in one transaction.
    public func commit(_ result: ActionResult, event: Event, trace: Trace) throws(StoreError) {
        try actionCache.commit(result) { db in
            try event.insert(db)
            try trace.upsert(db)
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
