import Foundation
import GRDB

/// `acervo.sqlite`: the metadata of a store on one machine — the action cache, runs and their decisions,
/// traces, refs and pins, the stat cache, the blob catalog, download records and the search index.
///
/// WAL lets readers (`acervo status`, the dashboard) run during a build; `synchronous = FULL` makes every
/// committed transaction survive a power loss, which is what "a finished action is never paid for twice"
/// needs. Every access goes through GRDB's async API: reads on its reader pool, writes on its writer queue,
/// never on Swift's cooperative threads.
public final class SQLiteMetadata: MetadataStore {
    public let path: String
    let pool: DatabasePool

    public var location: String { path }

    /// Opens (creating and migrating unless `readOnly`) the database at `path`. Blocks while SQLite opens the
    /// file and migrates: call it from a blocking thread (`Store.open` does).
    ///
    /// With `requireSchema` (the store already holds objects) a database without Acervo's tables is refused
    /// with `databaseMissing` instead of being set up as new: a database whose `-wal` file was lost (a backup
    /// that copied only `acervo.sqlite`) looks exactly like that, and treating it as new would forget every
    /// result and pay for all of it again.
    public init(path: String, readOnly: Bool = false, requireSchema: Bool = false) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.readonly = readOnly
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            if requireSchema, try pool.read({ db in try !db.tableExists("grdb_migrations") }) {
                throw StoreError.databaseMissing(path: path)
            }
            if !readOnly { try Self.migrate(pool) }
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_READONLY || error.resultCode == .SQLITE_CANTOPEN {
                throw .readOnly(path: path)
            }
            throw Self.mapped(error, path: path)
        } catch {
            throw .database(path: path, message: "\(error)")
        }
    }

    /// Runs `body` in one write transaction; the transaction is durable when this returns. A write that was
    /// asked for is not torn by the caller's cancellation: it completes (or fails) on its own, and the caller
    /// sees the cancellation at its next suspension point — a finished action's result is never dropped
    /// because Ctrl-C arrived while it was being committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        let result = await Task { [pool, path] in
            do { return Result<T, StoreError>.success(try await pool.write(body)) } catch {
                return .failure(Self.mapped(error, path: path))
            }
        }.value
        return try result.get()
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.read(body) } catch { throw Self.mapped(error, path: path) }
    }

    static func mapped(_ error: any Error, path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_READONLY, .SQLITE_CANTOPEN: return .readOnly(path: path)
            case .SQLITE_FULL: return .noSpace(path: path)
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: return .databaseDamaged(path: path, message: error.message ?? error.description)
            default: return .database(path: path, message: error.description)
            }
        }
        if error is CancellationError { return .cancelled }
        return .database(path: path, message: "\(error)")
    }

    /// Rows per multi-row statement: 10 columns × 90 stays under SQLite's oldest parameter limit (999).
    static let rowsPerStatement = 90

    /// Brings the schema up to date, safe against any number of processes opening the store at once (a
    /// service and a cron job starting together): the applied migrations are read and the missing ones run in
    /// one IMMEDIATE transaction — SQLite's write lock across processes — so a second opener waits, then finds
    /// them applied. (GRDB's migrator reads what is applied before taking that lock: two new stores' openers
    /// would both add the same column.) The record stays GRDB's `grdb_migrations` table.
    static func migrate(_ pool: DatabasePool) throws {
        let applied = { (db: Database) throws -> Set<String> in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
        }
        if try pool.read({ db in try applied(db) }).isSuperset(of: migrations.map(\.identifier)) { return }
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                let done = try applied(db)
                for migration in migrations where !done.contains(migration.identifier) {
                    try migration.apply(db)
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.identifier])
                }
                return .commit
            }
        }
    }

    /// One step of the schema's history.
    struct Migration {
        var identifier: String
        var apply: (Database) throws -> Void
    }

    /// Schema history. Migrations are append-only: an existing store is upgraded in place, never rebuilt.
    static var migrations: [Migration] {
        var migrator = MigrationList()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE action_results (
                    key TEXT PRIMARY KEY NOT NULL,
                    processor TEXT NOT NULL,
                    processor_version TEXT NOT NULL,
                    provider TEXT,
                    model TEXT,
                    usage TEXT,
                    cost_usd REAL NOT NULL DEFAULT 0,
                    duration_seconds REAL NOT NULL DEFAULT 0,
                    run_id TEXT,
                    tool_version TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    hit_count INTEGER NOT NULL DEFAULT 0,
                    last_hit_at REAL
                );
                CREATE TABLE result_outputs (
                    key TEXT NOT NULL REFERENCES action_results(key) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    PRIMARY KEY (key, name)
                );
                CREATE INDEX result_outputs_by_digest ON result_outputs(digest);
                CREATE TABLE traces (
                    item_id TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    key TEXT NOT NULL,
                    components TEXT NOT NULL,
                    run_id TEXT,
                    updated_at REAL NOT NULL,
                    PRIMARY KEY (item_id, rule)
                );
                CREATE TABLE runs (
                    id TEXT PRIMARY KEY NOT NULL,
                    command TEXT NOT NULL,
                    tool_version TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    ended_at REAL,
                    status TEXT NOT NULL,
                    summary TEXT
                );
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL REFERENCES runs(id),
                    item_id TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    key TEXT,
                    decision TEXT NOT NULL CHECK (decision IN ('hit', 'executed', 'failed', 'skipped')),
                    reason TEXT NOT NULL,
                    duration_seconds REAL NOT NULL DEFAULT 0,
                    cost_usd REAL NOT NULL DEFAULT 0,
                    error TEXT,
                    at REAL NOT NULL
                );
                CREATE INDEX events_by_run ON events(run_id);
                CREATE INDEX events_by_item ON events(item_id, rule);
                CREATE TABLE refs (
                    name TEXT PRIMARY KEY NOT NULL,
                    digest TEXT NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE pins (
                    digest TEXT PRIMARY KEY NOT NULL,
                    note TEXT NOT NULL DEFAULT '',
                    created_at REAL NOT NULL
                );
                CREATE TABLE stat_cache (
                    path TEXT PRIMARY KEY NOT NULL,
                    device INTEGER NOT NULL,
                    inode INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    ctime_ns INTEGER NOT NULL,
                    digest TEXT NOT NULL
                );
                CREATE TABLE blobs (
                    digest TEXT PRIMARY KEY NOT NULL,
                    size INTEGER NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('media', 'derived')),
                    created_at REAL NOT NULL
                );
                CREATE TABLE blob_links (
                    parent TEXT NOT NULL,
                    child TEXT NOT NULL,
                    PRIMARY KEY (parent, child)
                );
                """)
        }
        migrator.registerMigration("v2-search") { db in
            // One row per (collection, item); `collection` is a snapshot's digest. Accents are folded so that
            // `funcion` finds `función`.
            try db.execute(sql: """
                CREATE VIRTUAL TABLE search_text USING fts5(
                    collection UNINDEXED, item UNINDEXED, attributes UNINDEXED, title, body,
                    tokenize = 'unicode61 remove_diacritics 2'
                );
                CREATE TABLE search_collections (collection TEXT PRIMARY KEY NOT NULL, indexed_at REAL NOT NULL);
                """)
        }
        migrator.registerMigration("v3-downloads") { db in
            // What a URL held when it was last fetched, so an unchanged remote file is not fetched again.
            try db.execute(sql: """
                CREATE TABLE downloads (
                    url TEXT PRIMARY KEY NOT NULL,
                    etag TEXT,
                    last_modified TEXT,
                    size INTEGER NOT NULL,
                    digest TEXT NOT NULL,
                    checked_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4-output-bytes") { db in
            // The bytes of a result's outputs, recorded at commit, so statistics are one aggregate query instead of
            // a stat of every output blob. Results from before stay NULL until `cache stats` measures them once.
            // Reasons of events written from now on are structured JSON (see `DecisionReason`); older rows keep
            // their text.
            try db.execute(sql: """
                ALTER TABLE action_results ADD COLUMN output_bytes INTEGER;
                CREATE INDEX runs_by_start ON runs(started_at);
                """)
        }
        migrator.registerMigration("v5-warnings") { db in
            // What a processor left out (`line 12: …`) and facts about its input (`encoding`), as JSON; NULL for
            // results from before, which had neither.
            try db.execute(sql: """
                ALTER TABLE action_results ADD COLUMN warnings TEXT;
                ALTER TABLE action_results ADD COLUMN metadata TEXT;
                """)
        }
        migrator.registerMigration("v6-estimates") { db in
            // What a paid action was expected to cost when it started: `plan` measures its estimates with it.
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN estimated_usd REAL;
                ALTER TABLE events ADD COLUMN estimated_high_usd REAL;
                """)
        }
        migrator.registerMigration("v7-hit-list-totals") { db in
            // What each hit list adds per processor, totalled once: statistics read these rows instead of
            // every result and every list. A list totalled with nothing has one row with processor ''.
            try db.execute(sql: """
                CREATE TABLE hit_list_totals (
                    digest TEXT NOT NULL,
                    processor TEXT NOT NULL,
                    hits INTEGER NOT NULL,
                    saved_usd REAL NOT NULL,
                    PRIMARY KEY (digest, processor)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v8-result-totals") { db in
            // Per processor, the figures `cache stats` and `status` print, kept by the database itself in the
            // same transaction as every change to a result (triggers): reading them is one row per processor,
            // not a scan of every result. Filled once here from the results already stored.
            try db.execute(sql: """
                CREATE TABLE result_totals (
                    processor TEXT PRIMARY KEY NOT NULL,
                    entries INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    hits INTEGER NOT NULL,
                    saved REAL NOT NULL,
                    spent REAL NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO result_totals (processor, entries, bytes, hits, saved, spent)
                    SELECT processor, COUNT(*), COALESCE(SUM(output_bytes), 0), SUM(hit_count), SUM(cost_usd * hit_count),
                           SUM(CASE WHEN run_id IS NULL THEN 0 ELSE cost_usd END)
                    FROM action_results GROUP BY processor;
                """ + resultTotalsTriggers)
        }
        return migrator.migrations
    }

    /// What a result adds to its processor's totals (`NEW`) and what it takes away (`OLD`).
    static let resultTotalsTriggers = """
        CREATE TRIGGER result_totals_insert AFTER INSERT ON action_results BEGIN
        \(resultTotalsChange(of: "NEW", sign: "+"))
        END;
        CREATE TRIGGER result_totals_delete AFTER DELETE ON action_results BEGIN
        \(resultTotalsChange(of: "OLD", sign: "-"))
        END;
        CREATE TRIGGER result_totals_update AFTER UPDATE OF processor, output_bytes, hit_count, cost_usd, run_id ON action_results BEGIN
        \(resultTotalsChange(of: "OLD", sign: "-"))
        \(resultTotalsChange(of: "NEW", sign: "+"))
        END;
        """

    /// One result's figures added to (`+`) or taken from (`-`) its processor's row, which is made when missing.
    private static func resultTotalsChange(of row: String, sign: String) -> String {
        """
            INSERT OR IGNORE INTO result_totals (processor, entries, bytes, hits, saved, spent) VALUES (\(row).processor, 0, 0, 0, 0, 0);
            UPDATE result_totals SET entries = entries \(sign) 1, bytes = bytes \(sign) COALESCE(\(row).output_bytes, 0),
                hits = hits \(sign) \(row).hit_count, saved = saved \(sign) \(row).cost_usd * \(row).hit_count,
                spent = spent \(sign) (CASE WHEN \(row).run_id IS NULL THEN 0 ELSE \(row).cost_usd END)
                WHERE processor = \(row).processor;
        """
    }

    /// Collects migrations in order, in the words of GRDB's migrator.
    struct MigrationList {
        var migrations: [Migration] = []
        mutating func registerMigration(_ identifier: String, _ apply: @escaping (Database) throws -> Void) {
            migrations.append(Migration(identifier: identifier, apply: apply))
        }
    }
}

extension Row {
    func digest(_ column: String) throws -> Digest { try Digest(parsing: self[column]) }
    func date(_ column: String) -> Date { Date(timeIntervalSince1970: self[column]) }
    func optionalDate(_ column: String) -> Date? { (self[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
}
