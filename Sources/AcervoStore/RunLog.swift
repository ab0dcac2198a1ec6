import Foundation
import GRDB

/// What the evaluator decided for one (item, rule) in one run.
public enum Decision: String, Sendable, Codable, CaseIterable {
    case hit, executed, failed, skipped
}

/// One row per action decision: the audit trail behind `acervo runs show` and `acervo why`.
public struct Event: Sendable, Codable, Equatable {
    public var runID: String
    public var itemID: String
    public var rule: String
    public var key: String?
    public var decision: Decision
    public var reason: String
    public var durationSeconds: Double
    public var costUSD: Double
    public var error: String?
    public var at: Date

    public init(
        runID: String, itemID: String, rule: String, key: String?, decision: Decision, reason: String,
        durationSeconds: Double = 0, costUSD: Double = 0, error: String? = nil, at: Date = Date()
    ) {
        self.runID = runID
        self.itemID = itemID
        self.rule = rule
        self.key = key
        self.decision = decision
        self.reason = reason
        self.durationSeconds = durationSeconds
        self.costUSD = costUSD
        self.error = error
        self.at = at
    }

    /// Inserts the event inside a caller's transaction (e.g. the one committing the action's result).
    /// Inserts several events with one statement.
    static func insert(_ events: ArraySlice<Event>, _ db: Database) throws {
        guard !events.isEmpty else { return }
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        let statement = try db.cachedStatement(sql: """
            INSERT INTO events (run_id, item_id, rule, key, decision, reason, duration_seconds, cost_usd, error, at)
            VALUES \(Array(repeating: row, count: events.count).joined(separator: ", "))
            """)
        var arguments = StatementArguments()
        for event in events {
            arguments += [event.runID, event.itemID, event.rule, event.key, event.decision.rawValue, event.reason,
                          event.durationSeconds, event.costUSD, event.error, event.at.timeIntervalSince1970]
        }
        try statement.execute(arguments: arguments)
    }

    public func insert(_ db: Database) throws {
        // A cached statement: a no-op build inserts tens of thousands of these, and parsing the SQL each time
        // would cost more than the insert.
        let statement = try db.cachedStatement(sql: """
            INSERT INTO events (run_id, item_id, rule, key, decision, reason, duration_seconds, cost_usd, error, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try statement.execute(arguments: [runID, itemID, rule, key, decision.rawValue, reason, durationSeconds, costUSD, error, at.timeIntervalSince1970])
    }
}

/// One invocation of a command that changes the store.
public struct Run: Sendable, Codable, Equatable {
    public var id: String
    public var command: String
    public var toolVersion: String
    public var startedAt: Date
    public var endedAt: Date?
    public var status: String
    /// Free-form JSON the command writes at the end (counts, cost, snapshot).
    public var summary: String?
}

/// The last key computed for (item, rule) and the components it was computed from, so `plan` and `why` can
/// say exactly what changed since.
public struct Trace: Sendable, Codable, Equatable {
    public var itemID: String
    public var rule: String
    public var key: String
    /// Engine-defined JSON (processor, version, params, input digests, file digests).
    public var components: String
    public var runID: String?
    public var updatedAt: Date

    public init(itemID: String, rule: String, key: String, components: String, runID: String?, updatedAt: Date = Date()) {
        self.itemID = itemID
        self.rule = rule
        self.key = key
        self.components = components
        self.runID = runID
        self.updatedAt = updatedAt
    }

    public func upsert(_ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO traces (item_id, rule, key, components, run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
        try statement.execute(arguments: [itemID, rule, key, components, runID, updatedAt.timeIntervalSince1970])
    }
}

/// Runs, their events, and traces.
public struct RunLog: Sendable {
    let database: MetadataDatabase

    /// Starts a run; its id sorts by time so `acervo runs` lists naturally.
    public func start(command: String, toolVersion: String, at date: Date = Date()) throws(StoreError) -> Run {
        let stamp = Int64(date.timeIntervalSince1970 * 1000)
        let id = String(format: "r%013lld-%04x", stamp, UInt16.random(in: 0...UInt16.max))
        let run = Run(id: id, command: command, toolVersion: toolVersion, startedAt: date, endedAt: nil, status: "running", summary: nil)
        try database.write { db in
            try db.execute(
                sql: "INSERT INTO runs (id, command, tool_version, started_at, status) VALUES (?, ?, ?, ?, ?)",
                arguments: [run.id, command, toolVersion, date.timeIntervalSince1970, run.status])
        }
        return run
    }

    public func finish(_ id: String, status: String, summary: String?, at date: Date = Date()) throws(StoreError) {
        try database.write { db in
            try db.execute(
                sql: "UPDATE runs SET ended_at = ?, status = ?, summary = ? WHERE id = ?",
                arguments: [date.timeIntervalSince1970, status, summary, id])
        }
    }

    public func runs(limit: Int = 50) throws(StoreError) -> [Run] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", arguments: [limit]).map(Self.run)
        }
    }

    public func run(_ id: String) throws(StoreError) -> Run? {
        try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(Self.run) }
    }

    public func events(run id: String) throws(StoreError) -> [Event] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? ORDER BY id", arguments: [id]).map(Self.event)
        }
    }

    /// The most recent decision for each rule of an item, newest first.
    public func events(item: String) throws(StoreError) -> [Event] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE item_id = ? ORDER BY id DESC", arguments: [item]).map(Self.event)
        }
    }

    public func traces(item: String) throws(StoreError) -> [Trace] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM traces WHERE item_id = ? ORDER BY rule", arguments: [item]).map { row in
                Trace(itemID: row["item_id"], rule: row["rule"], key: row["key"], components: row["components"], runID: row["run_id"],
                      updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
            }
        }
    }

    private static func run(_ row: Row) -> Run {
        let ended: Double? = row["ended_at"]
        return Run(id: row["id"], command: row["command"], toolVersion: row["tool_version"],
                   startedAt: Date(timeIntervalSince1970: row["started_at"]), endedAt: ended.map(Date.init(timeIntervalSince1970:)),
                   status: row["status"], summary: row["summary"])
    }

    private static func event(_ row: Row) throws -> Event {
        Event(runID: row["run_id"], itemID: row["item_id"], rule: row["rule"], key: row["key"],
              decision: Decision(rawValue: row["decision"]) ?? .failed, reason: row["reason"],
              durationSeconds: row["duration_seconds"], costUSD: row["cost_usd"], error: row["error"],
              at: Date(timeIntervalSince1970: row["at"]))
    }
}

extension RunLog {
    /// The current key of every (item, rule), read in one query: a build compares tens of thousands of keys,
    /// and one query each would dominate a no-op build. Components are left out (see `trace(item:rule:)`),
    /// since only actions that run need them.
    public func traceKeys() throws(StoreError) -> [String: [String: String]] {
        try database.read { db in
            var keys: [String: [String: String]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT item_id, rule, key FROM traces") {
                keys[row[0] as String, default: [:]][row[1] as String] = row[2] as String
            }
            return keys
        }
    }

    public func trace(item: String, rule: String) throws(StoreError) -> Trace? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM traces WHERE item_id = ? AND rule = ?", arguments: [item, rule]).map { row in
                Trace(itemID: row["item_id"], rule: row["rule"], key: row["key"], components: row["components"], runID: row["run_id"],
                      updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
            }
        }
    }
}
