import AcervoEngine
import AcervoStore
import Foundation

/// One run and every decision it made.
public struct RunReport: Sendable, Encodable {
    public var run: Run
    public var events: [Event]
}

extension Workspace {
    /// Snapshots of the knowledge base: list, show, diff, export, search.
    public func knowledgeBase() async throws -> KnowledgeBase {
        KnowledgeBase(store: try await store())
    }

    /// Runs a query against the knowledge base, its errors classified.
    public func knowledgeBase<T>(_ query: (KnowledgeBase) async throws -> T) async throws -> T {
        let knowledgeBase = try await knowledgeBase()
        return try await classified { try await query(knowledgeBase) }
    }

    /// The last decision for each rule of an item (`acervo why`).
    public func why(item: String, rule: String?) async throws -> [RuleExplanation] {
        let store = try await store()
        return try await classified { try await store.explain(item: item, rule: rule) }
    }

    /// How an item's document was made (`acervo trace`).
    public func trace(item: String) async throws -> [ProvenanceStep] {
        let store = try await store()
        return try await classified { try await store.provenance(item: item) }
    }

    /// The newest builds (among the last 200 runs of any command), newest first.
    public func recentBuilds() async throws -> [Run] {
        try await runs(limit: 200).filter { $0.command == .build }
    }

    /// Recent runs, newest first.
    public func runs(limit: Int) async throws -> [Run] {
        let store = try await store()
        return try await classified { try await store.journal.runs(limit: limit) }
    }

    /// A run with every decision, listed hits included; nil when there is no such run.
    public func run(_ id: String) async throws -> RunReport? {
        let store = try await store()
        return try await classified {
            guard let run = try await store.journal.run(id) else { return nil }
            return RunReport(run: run, events: try await store.events(run: id))
        }
    }

    /// Entries, bytes, hits and dollars saved, per processor.
    public func cacheStatistics() async throws -> CacheStatistics {
        let store = try await store()
        return try await classified { try await store.cacheStatistics() }
    }

    /// Action results, newest first, with their hit counts.
    public func cacheResults(processor: String?) async throws -> [ActionResult] {
        let store = try await store()
        return try await classified { try await store.withListedHits(try await store.actionCache.results(processor: processor)) }
    }

    /// One result by a unique key prefix (as git resolves abbreviated commits), and whether each output is present.
    public func cacheResult(keyPrefix: String) async throws -> (result: ActionResult, missing: Set<String>) {
        let store = try await store()
        return try await classified {
            let cleaned = keyPrefix.lowercased()
            guard !cleaned.isEmpty, cleaned.allSatisfy(\.isHexDigit) else { throw StoreError.unknownActionKey(keyPrefix) }
            let (matches, total) = try await store.actionCache.results(keyPrefix: cleaned, limit: 2)
            guard total == 1, let found = matches.first else {
                throw total == 0 ? StoreError.unknownActionKey(keyPrefix) : StoreError.ambiguousActionKey(keyPrefix, matches: total)
            }
            let result = try await store.withListedHits([found])[0]
            var missing = Set<String>()
            for (name, digest) in result.outputs where await !store.blobs.contains(digest) { missing.insert(name) }
            return (result, missing)
        }
    }
}

/// One run's decisions as stored: the recorded events (what ran, failed or was skipped, and hits that are not
/// plain) and its hit list — for a page that shows thousands of hits by rule rather than one by one.
public struct RunDecisions: Sendable {
    public var run: Run
    public var events: [Event]
    public var hits: HitList
    /// The hit list's digest: identical nights share one.
    public var hitListDigest: Digest?
}

extension Workspace {
    /// A run's recorded decisions and hit list; nil when there is no such run.
    public func runDecisions(_ id: String) async throws -> RunDecisions? {
        let store = try await store()
        return try await classified {
            guard let run = try await store.journal.run(id) else { return nil }
            var hits = HitList([])
            let digest = try await store.hitListDigest(run: id)
            if let digest { hits = try await store.hitList(digest) }
            return RunDecisions(run: run, events: try await store.journal.events(run: id), hits: hits, hitListDigest: digest)
        }
    }
}
