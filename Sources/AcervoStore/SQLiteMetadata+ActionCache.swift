import Foundation
import GRDB

extension SQLiteMetadata {
    public func commit(_ result: ActionResult, event: Event?, trace: Trace?) async throws(StoreError) {
        // Non-finite figures (a provider reporting NaN) cannot be JSON; they are dropped, never a crash.
        let usage = try JSONEncoder.canonicalText(result.usage.filter { $0.value.isFinite }, what: "a result's usage")
        let warnings = result.warnings.isEmpty ? nil : try JSONEncoder.canonicalText(result.warnings, what: "a result's warnings")
        let metadata = result.metadata.isEmpty ? nil : try JSONEncoder.canonicalText(result.metadata, what: "a result's metadata")
        let eventRow = event.map(EventRow.init)
        try await write { db in
            try db.execute(sql: "DELETE FROM action_results WHERE key = ?", arguments: [result.key.hex])
            try db.execute(
                sql: """
                    INSERT INTO action_results (key, processor, processor_version, provider, model, usage, cost_usd,
                        duration_seconds, run_id, tool_version, created_at, hit_count, last_hit_at, output_bytes, warnings, metadata)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    result.key.hex, result.processor, result.processorVersion, result.provider, result.model, usage,
                    result.costUSD, result.durationSeconds, result.runID, result.toolVersion,
                    result.createdAt.timeIntervalSince1970, result.hitCount, result.lastHitAt?.timeIntervalSince1970, result.outputBytes,
                    warnings, metadata,
                ])
            for (name, digest) in result.outputs {
                try db.execute(sql: "INSERT INTO result_outputs (key, name, digest) VALUES (?, ?, ?)",
                               arguments: [result.key.hex, name, digest.description])
            }
            if let eventRow { try EventRow.insert([eventRow][...], db) }
            if let trace { try Self.upsert(trace, db) }
        }
    }

    public func result(forKey key: ActionKey) async throws(StoreError) -> ActionResult? {
        try await read { db in try Self.fetchResults(db, where: "key = ?", [key.hex]).first }
    }

    public func results(keyPrefix prefix: String, limit: Int) async throws(StoreError) -> (matches: [ActionResult], total: Int) {
        let pattern = prefix.lowercased() + "%"
        return try await read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM action_results WHERE key LIKE ?", arguments: [pattern]) ?? 0
            return (try Self.fetchResults(db, where: "key LIKE ?", [pattern], limit: limit), total)
        }
    }

    public func results(processor: String?) async throws(StoreError) -> [ActionResult] {
        try await read { db in
            if let processor { return try Self.fetchResults(db, where: "processor = ?", [processor]) }
            return try Self.fetchResults(db, where: "1", [])
        }
    }

    public func removeResults(_ keys: [ActionKey]) async throws(StoreError) {
        guard !keys.isEmpty else { return }
        try await write { db in
            for chunk in keys.chunked(Self.rowsPerStatement) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                try db.execute(sql: "DELETE FROM action_results WHERE key IN (\(placeholders))",
                               arguments: StatementArguments(chunk.map(\.hex)))
            }
        }
    }

    public func recordHit(_ key: ActionKey, at date: Date) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: "UPDATE action_results SET hit_count = hit_count + 1, last_hit_at = ? WHERE key = ?",
                           arguments: [date.timeIntervalSince1970, key.hex])
        }
    }

    public func outputIndex(named name: String) async throws(StoreError) -> [ActionKey: Digest] {
        try await read { db in
            var index: [ActionKey: Digest] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT key, digest FROM result_outputs WHERE name = ?", arguments: [name])
            while let row = try rows.next() {
                index[try ActionKey(parsing: row[0])] = try Digest(parsing: row[1])
            }
            return index
        }
    }

    public func resultTotals() async throws(StoreError) -> [CacheStatistics.Row] {
        try await read { db in
            // Kept by triggers as results change (migration v8): one row per processor, whatever the cache holds.
            try Row.fetchAll(db, sql: """
                SELECT processor, entries, bytes, hits, saved, spent FROM result_totals WHERE entries > 0 ORDER BY processor
                """).map { row in
                CacheStatistics.Row(processor: row["processor"], entries: row["entries"], bytes: row["bytes"], hits: row["hits"],
                                    savedUSD: row["saved"], spentUSD: row["spent"])
            }
        }
    }

    public func unsizedResults() async throws(StoreError) -> [ActionResult] {
        try await read { db in try Self.fetchResults(db, where: "output_bytes IS NULL", []) }
    }

    public func recordOutputBytes(_ bytes: [ActionKey: Int64]) async throws(StoreError) {
        guard !bytes.isEmpty else { return }
        try await write { db in
            let statement = try db.cachedStatement(sql: "UPDATE action_results SET output_bytes = ? WHERE key = ?")
            for (key, size) in bytes { try statement.execute(arguments: [size, key.hex]) }
        }
    }

    /// Results with their outputs, in two queries whatever their number (not one query per result).
    static func fetchResults(_ db: Database, where condition: String, _ arguments: StatementArguments, limit: Int? = nil) throws -> [ActionResult] {
        let limitSQL = limit.map { " LIMIT \($0)" } ?? ""
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM action_results WHERE \(condition) ORDER BY created_at DESC, key\(limitSQL)", arguments: arguments)
        guard !rows.isEmpty else { return [] }
        var outputs: [String: [String: Digest]] = [:]
        let outputRows = try Row.fetchCursor(db, sql: """
            SELECT key, name, digest FROM result_outputs WHERE key IN (SELECT key FROM action_results WHERE \(condition)
                ORDER BY created_at DESC, key\(limitSQL))
            """, arguments: arguments)
        while let row = try outputRows.next() {
            outputs[row[0], default: [:]][row[1]] = try Digest(parsing: row[2])
        }
        return try rows.map { row in
            let key: String = row["key"]
            let usage = try Self.decodeColumn([String: Double].self, row["usage"], column: "usage", key: key) ?? [:]
            return ActionResult(
                key: try ActionKey(parsing: key), processor: row["processor"], processorVersion: row["processor_version"],
                outputs: outputs[key] ?? [:], outputBytes: row["output_bytes"], provider: row["provider"], model: row["model"], usage: usage,
                costUSD: row["cost_usd"], durationSeconds: row["duration_seconds"], runID: row["run_id"], toolVersion: row["tool_version"],
                createdAt: row.date("created_at"), hitCount: row["hit_count"], lastHitAt: row.optionalDate("last_hit_at"),
                warnings: try Self.decodeColumn([String].self, row["warnings"], column: "warnings", key: key) ?? [],
                metadata: try Self.decodeColumn([String: String].self, row["metadata"], column: "metadata", key: key) ?? [:])
        }
    }

    /// A JSON column written by `commit`; NULL for rows from before the column existed.
    /// A JSON column: nil when it is NULL; an error naming the column when it holds something that does not
    /// decode (read as empty, a result's recorded usage — its cost's basis — would silently vanish).
    private static func decodeColumn<T: Decodable>(_ type: T.Type, _ text: String?, column: String, key: String) throws -> T? {
        guard let text else { return nil }
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw StoreError.database(path: "action_results", message: "the `\(column)` of result \(key) is not the JSON it should be (\(error)); "
                                      + "run `acervo fsck --repair` to rebuild the database from the run logs")
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
