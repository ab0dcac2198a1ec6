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
        guard let ref = try await refs.ref(Ref.hitListPrefix + run) else { return HitList([]) }
        return try await hitList(ref.digest)
    }

    func hitList(_ digest: Digest) async throws(StoreError) -> HitList {
        do {
            return try HitList(parsing: try await blobs.bytes(of: digest))
        } catch {
            throw .unreadable(digest, what: "hit list of a run", reason: "\(error)")
        }
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
        var uses: [Digest: (runs: Int, lastAt: Date)] = [:]
        for record in try await journal.hitLists(since: since) {
            let previous = uses[record.digest] ?? (0, .distantPast)
            uses[record.digest] = (previous.runs + 1, max(previous.lastAt, record.startedAt))
        }
        var usage: [ActionKey: (count: Int, lastAt: Date)] = [:]
        for (digest, use) in uses {
            for entry in try await hitList(digest).entries {
                let previous = usage[entry.key] ?? (0, .distantPast)
                usage[entry.key] = (previous.count + use.runs, max(previous.lastAt, use.lastAt))
            }
        }
        return usage
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
        let listed = try await listedHits()
        if !listed.isEmpty {
            for result in try await actionCache.results(processor: nil) {
                guard let uses = listed[result.key]?.count else { continue }
                rows[result.processor]?.hits += uses
                rows[result.processor]?.savedUSD += result.costUSD * Double(uses)
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
