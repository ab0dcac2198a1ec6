import Foundation
import GRDB

/// An event as it is written: its reason already encoded, so the encoding happens before the write transaction
/// rather than inside it.
struct EventRow: Sendable {
    var values: [DatabaseValue]

    init(_ event: Event) {
        values = [event.runID.databaseValue, event.itemID.databaseValue, event.rule.databaseValue, event.key?.hex.databaseValue ?? .null,
                  event.decision.rawValue.databaseValue, event.reason.storedJSON.databaseValue, event.durationSeconds.databaseValue,
                  event.costUSD.databaseValue, event.error?.databaseValue ?? .null, event.at.timeIntervalSince1970.databaseValue,
                  event.estimate?.expectedUSD.databaseValue ?? .null, event.estimate?.highUSD.databaseValue ?? .null]
    }

    /// Inserts several events with one statement.
    static func insert(_ rows: ArraySlice<EventRow>, _ db: Database) throws {
        guard !rows.isEmpty else { return }
        let placeholders = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        let statement = try db.cachedStatement(sql: """
            INSERT INTO events (run_id, item_id, rule, key, decision, reason, duration_seconds, cost_usd, error, at, estimated_usd, estimated_high_usd)
            VALUES \(Array(repeating: placeholders, count: rows.count).joined(separator: ", "))
            """)
        var arguments = StatementArguments()
        for row in rows { arguments += StatementArguments(row.values) }
        try statement.execute(arguments: arguments)
    }
}

extension SQLiteMetadata {
    public func startRun(_ run: Run) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "INSERT INTO runs (id, command, tool_version, started_at, status) VALUES (?, ?, ?, ?, ?)",
                           arguments: [run.id, run.command.rawValue, run.toolVersion, run.startedAt.timeIntervalSince1970, run.status.rawValue])
        }
    }

    public func finishRun(_ id: String, status: RunStatus, summary: String?, at date: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "UPDATE runs SET ended_at = ?, status = ?, summary = ? WHERE id = ?",
                           arguments: [date.timeIntervalSince1970, status.rawValue, summary, id])
        }
    }

    public func closeAbandonedRuns() async throws(StoreError) -> [String] {
        try await write { db in
            let ids = try String.fetchAll(db, sql: "SELECT id FROM runs WHERE status = 'running' ORDER BY started_at")
            guard !ids.isEmpty else { return [] }
            try db.execute(sql: """
                UPDATE runs SET status = 'interrupted',
                    ended_at = COALESCE((SELECT MAX(at) FROM events WHERE events.run_id = runs.id), started_at)
                WHERE status = 'running'
                """)
            return ids
        }
    }

    public func runs(limit: Int) async throws(StoreError) -> [Run] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", arguments: [limit]).map(Self.run)
        }
    }

    public func run(_ id: String) async throws(StoreError) -> Run? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(Self.run) }
    }

    public func record(_ decisions: [DecisionRecord]) async throws(StoreError) {
        guard !decisions.isEmpty else { return }
        let rows = decisions.map { EventRow($0.event) }
        let traces = decisions.compactMap(\.trace)
        var hits: [ActionKey: (count: Int, at: Double)] = [:]
        for decision in decisions {
            guard let key = decision.hitKey else { continue }
            let previous = hits[key] ?? (0, 0)
            hits[key] = (previous.count + 1, max(previous.at, decision.event.at.timeIntervalSince1970))
        }
        let singleHits = hits.filter { $0.value.count == 1 }.map(\.key.hex)
        let repeatedHits = hits.filter { $0.value.count > 1 }.map { ($0.key.hex, $0.value.count, $0.value.at) }
        let at = hits.values.map(\.at).max() ?? 0
        // Multi-row statements: per-row statements would cost more than the rows.
        try await write { db in
            for chunk in rows.chunked(Self.rowsPerStatement) { try EventRow.insert(chunk, db) }
            for trace in traces { try Self.upsert(trace, db) }
            for chunk in singleHits.chunked(Self.rowsPerStatement) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                try db.cachedStatement(sql: "UPDATE action_results SET hit_count = hit_count + 1, last_hit_at = ? WHERE key IN (\(placeholders))")
                    .execute(arguments: [at] + StatementArguments(Array(chunk)))
            }
            for (key, count, last) in repeatedHits {
                try db.cachedStatement(sql: "UPDATE action_results SET hit_count = hit_count + ?, last_hit_at = ? WHERE key = ?")
                    .execute(arguments: [count, last, key])
            }
        }
    }

    public func events(run id: String) async throws(StoreError) -> [Event] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? ORDER BY id", arguments: [id]).map(Self.event)
        }
    }

    public func events(item: String) async throws(StoreError) -> [Event] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE item_id = ? ORDER BY id DESC", arguments: [item]).map(Self.event)
        }
    }

    public func traces(item: String) async throws(StoreError) -> [Trace] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM traces WHERE item_id = ? ORDER BY rule", arguments: [item]).map(Self.trace)
        }
    }

    public func trace(item: String, rule: String) async throws(StoreError) -> Trace? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM traces WHERE item_id = ? AND rule = ?", arguments: [item, rule]).map(Self.trace)
        }
    }

    public func traceKeys() async throws(StoreError) -> [String: [String: ActionKey]] {
        try await read { db in
            var keys: [String: [String: ActionKey]] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT item_id, rule, key FROM traces")
            while let row = try rows.next() {
                keys[row[0] as String, default: [:]][row[1] as String] = try ActionKey(parsing: row[2])
            }
            return keys
        }
    }

    /// Hit lists are refs named `hits/RUN`: gc keeps what refs name and fsck checks them, with no table of
    /// their own.
    public func setHitList(_ digest: Digest, run: String, at date: Date) async throws(StoreError) {
        try await setRefs([(Ref.hitListPrefix + run, digest)], at: date)
    }

    public func hitLists(since: Date?) async throws(StoreError) -> [HitListRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT runs.id AS id, runs.started_at AS started_at, refs.digest AS digest
                FROM refs JOIN runs ON refs.name = ? || runs.id
                WHERE runs.started_at >= ? ORDER BY runs.started_at DESC
                """, arguments: [Ref.hitListPrefix, (since ?? .distantPast).timeIntervalSince1970]).map { row in
                HitListRecord(runID: row["id"], startedAt: row.date("started_at"), digest: try row.digest("digest"))
            }
        }
    }

    public func hitListTotals(_ digests: [Digest]) async throws(StoreError) -> [Digest: [String: HitTotals]] {
        guard !digests.isEmpty else { return [:] }
        return try await read { db in
            var totals: [Digest: [String: HitTotals]] = [:]
            for chunk in digests.map(\.description).chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: "SELECT digest, processor, hits, saved_usd FROM hit_list_totals WHERE digest IN (\(marks))",
                                               arguments: StatementArguments(Array(chunk)))
                while let row = try rows.next() {
                    let digest = try row.digest("digest")
                    let processor: String = row["processor"]
                    var byProcessor = totals[digest] ?? [:]
                    if !processor.isEmpty { byProcessor[processor] = HitTotals(hits: row["hits"], savedUSD: row["saved_usd"]) }
                    totals[digest] = byProcessor
                }
            }
            return totals
        }
    }

    public func recordHitListTotals(_ totals: [Digest: [String: HitTotals]]) async throws(StoreError) {
        guard !totals.isEmpty else { return }
        try await write { db in
            for (digest, byProcessor) in totals {
                let rows = byProcessor.isEmpty ? [("", HitTotals())] : byProcessor.map { ($0.key, $0.value) }
                for (processor, total) in rows {
                    try db.execute(sql: "INSERT OR REPLACE INTO hit_list_totals (digest, processor, hits, saved_usd) VALUES (?, ?, ?, ?)",
                                   arguments: [digest.description, processor, total.hits, total.savedUSD])
                }
            }
        }
    }

    static func upsert(_ trace: Trace, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO traces (item_id, rule, key, components, run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [trace.itemID, trace.rule, trace.key.hex, trace.components, trace.runID, trace.updatedAt.timeIntervalSince1970])
    }

    private static func run(_ row: Row) -> Run {
        Run(id: row["id"], command: RunCommand(rawValue: row["command"]), toolVersion: row["tool_version"], startedAt: row.date("started_at"),
            endedAt: row.optionalDate("ended_at"), status: RunStatus(rawValue: row["status"]) ?? .error, summary: row["summary"])
    }

    private static func event(_ row: Row) throws -> Event {
        let key: String? = row["key"]
        return Event(runID: row["run_id"], itemID: row["item_id"], rule: row["rule"], key: try key.map { try ActionKey(parsing: $0) },
                     decision: Decision(rawValue: row["decision"]) ?? .failed, reason: DecisionReason(stored: row["reason"]),
                     durationSeconds: row["duration_seconds"], costUSD: row["cost_usd"], error: row["error"], at: row.date("at"),
                     estimate: estimate(row))
    }

    private static func estimate(_ row: Row) -> EventEstimate? {
        guard let expected: Double = row["estimated_usd"] else { return nil }
        return EventEstimate(expectedUSD: expected, highUSD: row["estimated_high_usd"] ?? expected)
    }

    public func spending(runs ids: [String]) async throws(StoreError) -> [SpendRecord] {
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.run_id, e.item_id, e.rule, e.decision, e.cost_usd, e.estimated_usd, e.estimated_high_usd, e.at, r.processor
                FROM events e LEFT JOIN action_results r ON r.key = e.key
                WHERE e.run_id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))
                  AND (e.cost_usd > 0 OR e.estimated_usd IS NOT NULL)
                ORDER BY e.id
                """, arguments: StatementArguments(ids)).map { row in
                SpendRecord(runID: row["run_id"], itemID: row["item_id"], rule: row["rule"], processor: row["processor"],
                            decision: Decision(rawValue: row["decision"]) ?? .failed, costUSD: row["cost_usd"],
                            estimate: Self.estimate(row), at: row.date("at"))
            }
        }
    }

    private static func trace(_ row: Row) throws -> Trace {
        Trace(itemID: row["item_id"], rule: row["rule"], key: try ActionKey(parsing: row["key"]), components: row["components"],
              runID: row["run_id"], updatedAt: row.date("updated_at"))
    }
}
