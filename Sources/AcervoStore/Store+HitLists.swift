import Foundation

extension Store {
    /// Stores a run's plain hits (see `HitList`) and names them for the run.
    public func recordHits(_ hits: HitList, run: String) async throws(StoreError) {
        guard !hits.entries.isEmpty else { return }
        let digest = try await putChecked(bytes: hits.bytes).digest
        try await journal.setHitList(digest, run: run, at: Date())
    }

    /// A run's plain hits (empty for a run that had none, or that predates hit lists).
    public func hits(run: String) async throws(StoreError) -> HitList {
        guard let digest = try await hitListDigest(run: run) else { return HitList([]) }
        return try await hitList(digest)
    }

    /// A hit list by its digest (the few read last are kept decoded).
    public func hitList(_ digest: Digest) async throws(StoreError) -> HitList {
        if let known = recentHitLists.value(for: digest) { return known }
        let list: HitList
        do {
            list = try HitList(parsing: try await blobs.bytes(of: digest))
        } catch {
            throw .unreadable(digest, what: "hit list of a run", reason: "\(error)")
        }
        recentHitLists.remember(list, for: digest)
        return list
    }

    /// The hit list a run recorded, if any.
    public func hitListDigest(run: String) async throws(StoreError) -> Digest? {
        try await refs.ref(Ref.hitListPrefix + run)?.digest
    }

    /// Every decision of a run: its recorded events, then its listed hits (reason `cached`, at the run's start).
    public func events(run id: String) async throws(StoreError) -> [Event] {
        let rows = try await journal.events(run: id)
        let hits = try await hits(run: id).entries
        guard !hits.isEmpty, let run = try await journal.run(id) else { return rows }
        return rows + hits.map { Event(runID: id, itemID: $0.itemID, rule: $0.rule, key: $0.key, decision: .hit, reason: .cached, at: run.startedAt) }
    }

    /// The listed hits of `item` in the newest run whose hit list mentions it.
    public func latestListedHits(item: String) async throws(StoreError) -> [Event] {
        var checked = Set<Digest>()
        for record in try await journal.hitLists(since: nil) where checked.insert(record.digest).inserted {
            let entries = try await hitList(record.digest).entries.filter { $0.itemID == item }
            guard !entries.isEmpty else { continue }
            return entries.map {
                Event(runID: record.runID, itemID: item, rule: $0.rule, key: $0.key, decision: .hit, reason: .cached, at: record.startedAt)
            }
        }
        return []
    }

    /// How often each result was reused through hit lists (since `since`), and when last. Identical nights
    /// share one hit list, which is read once.
    public func listedHits(since: Date? = nil) async throws(StoreError) -> [ActionKey: (count: Int, lastAt: Date)] {
        try await listedHits(since: since, of: nil)
    }

    /// The same, for `keys` only (nil: every key) — a lesson's trace asks about its few.
    public func listedHits(since: Date? = nil, of keys: Set<ActionKey>?) async throws(StoreError) -> [ActionKey: (count: Int, lastAt: Date)] {
        var usage: [ActionKey: (count: Int, lastAt: Date)] = [:]
        for (digest, use) in try await hitListUses(since: since) {
            if let keys {
                let counts = try await hitCounts(digest)
                for key in keys {
                    guard let count = counts[key] else { continue }
                    let previous = usage[key] ?? (0, .distantPast)
                    usage[key] = (previous.count + count * use.runs, max(previous.lastAt, use.lastAt))
                }
                continue
            }
            for entry in try await hitList(digest).entries {
                let previous = usage[entry.key] ?? (0, .distantPast)
                usage[entry.key] = (previous.count + use.runs, max(previous.lastAt, use.lastAt))
            }
        }
        return usage
    }

    /// A hit list as counts per key, for lookups by key (the last few are kept).
    private func hitCounts(_ digest: Digest) async throws(StoreError) -> [ActionKey: Int] {
        if let known = recentHitCounts.value(for: digest) { return known }
        var counts: [ActionKey: Int] = [:]
        for entry in try await hitList(digest).entries { counts[entry.key, default: 0] += 1 }
        recentHitCounts.remember(counts, for: digest)
        return counts
    }

    /// Each distinct hit list, with how many runs recorded it and when last.
    private func hitListUses(since: Date?) async throws(StoreError) -> [Digest: (runs: Int, lastAt: Date)] {
        var uses: [Digest: (runs: Int, lastAt: Date)] = [:]
        for record in try await journal.hitLists(since: since) {
            let previous = uses[record.digest] ?? (0, .distantPast)
            uses[record.digest] = (previous.runs + 1, max(previous.lastAt, record.startedAt))
        }
        return uses
    }

    /// Results with their hit counts and last use completed from the hit lists.
    public func withListedHits(_ results: [ActionResult]) async throws(StoreError) -> [ActionResult] {
        let usage = try await listedHits()
        return results.map { result in
            guard let listed = usage[result.key] else { return result }
            var result = result
            result.hitCount += listed.count
            result.lastHitAt = max(result.lastHitAt ?? .distantPast, listed.lastAt)
            return result
        }
    }

    /// Counts, sizes, hits and dollars saved per processor, hits from the lists included. The backend
    /// aggregates; no object is visited, except once for results stored before their size was recorded.
    public func cacheStatistics() async throws(StoreError) -> CacheStatistics {
        try await measureUnsizedResults()
        var rows = Dictionary(uniqueKeysWithValues: try await actionCache.resultTotals().map { ($0.processor, $0) })
        let uses = try await hitListUses(since: nil)
        var unknown = uses.keys.filter { digest in hitListTotals.withLock { $0[digest] == nil } }
        if !unknown.isEmpty {
            // Totalled by an earlier process: a few rows instead of every result and every list.
            let kept = try await journal.hitListTotals(unknown)
            hitListTotals.withLock { cache in cache.merge(kept) { current, _ in current } }
            unknown = unknown.filter { kept[$0] == nil }
        }
        if !unknown.isEmpty {
            // Results by key, read once for all the hit lists not yet totalled.
            var results: [ActionKey: (processor: String, costUSD: Double)] = [:]
            for result in try await actionCache.results(processor: nil) { results[result.key] = (result.processor, result.costUSD) }
            var computed: [Digest: [String: HitTotals]] = [:]
            for digest in unknown {
                var totals: [String: HitTotals] = [:]
                for entry in try await hitList(digest).entries {
                    guard let result = results[entry.key] else { continue }
                    totals[result.processor, default: HitTotals()].hits += 1
                    totals[result.processor, default: HitTotals()].savedUSD += result.costUSD
                }
                computed[digest] = totals
            }
            hitListTotals.withLock { cache in cache.merge(computed) { _, new in new } }
            // Kept for the next process. On purpose not an error when it cannot be written (a store opened
            // read-only, a full disk): the figures are right either way, only computed again next time.
            try? await journal.recordHitListTotals(computed)
        }
        for (digest, use) in uses {
            let byProcessor: [String: HitTotals] = hitListTotals.withLock { $0[digest] } ?? [:]
            for (processor, totals) in byProcessor {
                rows[processor]?.hits += totals.hits * use.runs
                rows[processor]?.savedUSD += totals.savedUSD * Double(use.runs)
            }
        }
        return CacheStatistics(processors: Array(rows.values))
    }

    /// Records the output sizes of results committed before sizes were recorded.
    func measureUnsizedResults() async throws(StoreError) {
        var measured: [ActionKey: Int64] = [:]
        for result in try await actionCache.unsizedResults() { measured[result.key] = await outputBytes(of: result) }
        try await actionCache.recordOutputBytes(measured)
    }
}

/// What one hit list adds to a processor's figures.
public struct HitTotals: Sendable, Equatable {
    public var hits = 0
    public var savedUSD = 0.0

    public init(hits: Int = 0, savedUSD: Double = 0) {
        self.hits = hits
        self.savedUSD = savedUSD
    }
}
