import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation

/// `acervo cost`: what was spent, where, what the cache saved, and what the whole catalog will have cost.
public struct CostReport: Sendable, Codable, Equatable {
    public struct RunCost: Sendable, Codable, Equatable {
        public var run: String
        public var command: RunCommand
        public var startedAt: Date
        public var status: RunStatus
        /// Everything paid in the run: executed actions, and the pieces of actions that failed.
        public var spentUSD: Double
        /// The part of `spentUSD` paid by actions that then failed (their pieces are kept: the next build reuses them).
        public var failedUSD: Double
        /// What the executed paid actions were estimated at when they started.
        public var estimatedUSD: Double
        public var paidActions: Int
    }

    public struct NightCost: Sendable, Codable, Equatable {
        /// The day the runs started on, in `timeZone` (`2026-11-26`).
        public var night: String
        public var runs: Int
        public var spentUSD: Double
    }

    public struct ProcessorCost: Sendable, Codable, Equatable {
        public var processor: String
        public var paidActions: Int
        public var spentUSD: Double
        public var failedUSD: Double
        public var estimatedUSD: Double
    }

    public struct LessonCost: Sendable, Codable, Equatable {
        public var item: String
        /// From the newest snapshot's attributes; nil for a lesson no longer in it.
        public var course: String?
        public var paidActions: Int
        public var spentUSD: Double
    }

    public struct CourseCost: Sendable, Codable, Equatable {
        public var course: String
        public var lessons: Int
        public var spentUSD: Double
    }

    /// The whole catalog: what its current results cost when they were made, and what the actions still to
    /// run are estimated at (`acervo plan`); their sum is what the catalog will have cost once built.
    public struct Projection: Sendable, Codable, Equatable {
        public var lessons: Int
        public var builtUSD: Double
        public var pendingActions: Int
        public var pendingLowUSD: Double
        public var pendingUSD: Double
        public var pendingHighUSD: Double
        /// Paid actions still to run that nothing known could estimate.
        public var unestimated: Int
        public var projectedUSD: Double
    }

    /// What the vector store costs to keep, from the newest sync's `usage_bytes`: OpenAI bills it by the
    /// GB-day past a free allowance, whatever is built.
    public struct Storage: Sendable, Codable, Equatable {
        public var vectorStore: String
        public var bytes: Int
        /// When the sync that measured it ended.
        public var measuredAt: Date?
        /// `nil` when `prices.yaml` has no `openai.vector_store.per_gb_day`.
        public var usdPerDay: Double?

        /// `bytes` at `perGBDay` dollars a GB-day past `freeGB`.
        public static func usdPerDay(bytes: Int, perGBDay: Double, freeGB: Double) -> Double {
            max(0, Double(bytes) / 1e9 - freeGB) * perGBDay
        }
    }

    /// The runs counted: the newest `runs` of any command.
    public var runsCounted: Int
    public var timeZone: String
    public var spentUSD: Double
    /// What the cache kept from being paid again: each reused result's cost, once per reuse.
    public var savedUSD: Double
    public var hits: Int
    public var runs: [RunCost]
    public var nights: [NightCost]
    public var processors: [ProcessorCost]
    public var lessons: [LessonCost]
    public var courses: [CourseCost]
    public var projection: Projection?
    public var storage: Storage?
    /// Where and when each provider's prices were read (`rules/prices.yaml`).
    public var prices: [String: PriceTable.Provenance]
    /// Why there is no projection (the source could not be read), when one was asked for.
    public var projectionError: String?
}

extension Workspace {
    /// Spending over the newest `runs` runs, grouped every way a team that pays the bills asks for; with
    /// `projection`, a plan (a dry run: detection only) prices what is still to be built.
    public func costReport(runs limit: Int = 200, projection: Bool = true) async throws -> CostReport {
        let store = try await store()
        let pipeline = try pipeline()
        let zone = pipeline.schedule?.timeZone ?? TimeZone(identifier: "UTC")!
        // The knowledge base's lessons, read once: their courses, and which of them the projection counts.
        let lessons = try await classified { () async throws -> [SnapshotEntry] in
            guard let latest = try await store.refs.ref(SnapshotManifest.latestRef) else { return [] }
            return try await SnapshotManifest.load(latest.digest, from: store).entries
        }
        var report = try await classified { () async throws -> CostReport in
            let runs = try await store.journal.runs(limit: limit)
            let records = try await store.journal.spending(runs: runs.map(\.id))
            let courses = Dictionary(lessons.compactMap { entry in entry.attributes["course"].map { (entry.itemID, $0) } }, uniquingKeysWith: { a, _ in a })
            let cache = try await store.cacheStatistics().total
            var report = CostReport.tally(runs: runs, records: records, courses: courses, zone: zone, savedUSD: cache.savedUSD, hits: cache.hits)
            report.storage = Self.storage(runs: runs, prices: pipeline.prices)
            return report
        }
        report.prices = pipeline.prices.provenance
        if projection {
            do {
                let plan = try await self.plan()
                let built = try await classified { try await Self.builtCost(in: store, lessons: Set(lessons.map(\.itemID)), rerun: plan.actions) }
                report.projection = CostReport.Projection(
                    lessons: plan.items, builtUSD: built, pendingActions: plan.actions.filter { $0.estimate != .free }.count,
                    pendingLowUSD: plan.estimatedLowUSD, pendingUSD: plan.estimatedCostUSD, pendingHighUSD: plan.estimatedHighUSD,
                    unestimated: plan.unestimated, projectedUSD: built + plan.estimatedCostUSD)
            } catch {
                report.projectionError = "\(error)"
            }
        }
        return report
    }

    /// The vector store as the newest sync (of a build, `kb sync` or `kb restore`) measured it.
    private static func storage(runs: [Run], prices: PriceTable) -> CostReport.Storage? {
        for run in runs where run.command.isSync {
            guard let summary = run.summary, let report = try? JSONDecoder().decode(SyncReport.self, from: Data(summary.utf8)) else { continue }
            let price = prices.price("openai.vector_store", "per_gb_day", model: nil)
            return CostReport.Storage(
                vectorStore: report.vectorStore, bytes: report.usageBytes, measuredAt: run.endedAt,
                usdPerDay: price.map { CostReport.Storage.usdPerDay(bytes: report.usageBytes, perGBDay: $0,
                                                                    freeGB: prices.price("openai.vector_store", "free_gb", model: nil) ?? 0) })
        }
        return nil
    }

    /// What the current results of the catalog's lessons (those in the newest snapshot, and those the plan
    /// runs) cost when they were made, but for the actions the plan runs again: their new cost is the plan's.
    private static func builtCost(in store: Store, lessons built: Set<String>, rerun: [PlannedAction]) async throws -> Double {
        let lessons = built.union(rerun.map(\.item))
        let replaced = Set(rerun.map { [$0.item, $0.rule] })
        var total = 0.0
        for (item, rules) in try await store.journal.traceKeys() where lessons.contains(item) {
            for (rule, key) in rules where !replaced.contains([item, rule]) {
                if let result = try await store.lookup(key), result.runID != nil { total += result.costUSD }
            }
        }
        return total
    }
}

extension CostReport {
    static func tally(runs: [Run], records: [SpendRecord], courses: [String: String], zone: TimeZone, savedUSD: Double, hits: Int) -> CostReport {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        func night(_ date: Date) -> String {
            let day = calendar.dateComponents([.year, .month, .day], from: date)
            return String(format: "%04d-%02d-%02d", day.year ?? 0, day.month ?? 0, day.day ?? 0)
        }
        let byRun = Dictionary(grouping: records, by: \.runID)
        let runCosts = runs.map { run in
            let spent = byRun[run.id] ?? []
            return RunCost(run: run.id, command: run.command, startedAt: run.startedAt, status: run.status,
                           spentUSD: spent.reduce(0) { $0 + $1.costUSD },
                           failedUSD: spent.filter { $0.decision == .failed }.reduce(0) { $0 + $1.costUSD },
                           estimatedUSD: spent.reduce(0) { $0 + ($1.decision == .executed ? $1.estimate?.expectedUSD ?? 0 : 0) },
                           paidActions: spent.filter { $0.costUSD > 0 }.count)
        }
        var nights: [String: NightCost] = [:]
        for run in runCosts {
            let name = night(run.startedAt)
            nights[name, default: NightCost(night: name, runs: 0, spentUSD: 0)].runs += 1
            nights[name]!.spentUSD += run.spentUSD
        }
        var processors: [String: ProcessorCost] = [:]
        var lessons: [String: LessonCost] = [:]
        for record in records where record.costUSD > 0 || record.estimate != nil {
            let name = record.processor ?? record.rule
            var row = processors[name] ?? ProcessorCost(processor: name, paidActions: 0, spentUSD: 0, failedUSD: 0, estimatedUSD: 0)
            if record.costUSD > 0 { row.paidActions += 1 }
            row.spentUSD += record.costUSD
            if record.decision == .failed { row.failedUSD += record.costUSD }
            if record.decision == .executed { row.estimatedUSD += record.estimate?.expectedUSD ?? 0 }
            processors[name] = row
            var lesson = lessons[record.itemID] ?? LessonCost(item: record.itemID, course: courses[record.itemID], paidActions: 0, spentUSD: 0)
            if record.costUSD > 0 { lesson.paidActions += 1 }
            lesson.spentUSD += record.costUSD
            lessons[record.itemID] = lesson
        }
        var courseRows: [String: CourseCost] = [:]
        for lesson in lessons.values {
            let name = lesson.course ?? "(not in the knowledge base)"
            courseRows[name, default: CourseCost(course: name, lessons: 0, spentUSD: 0)].lessons += 1
            courseRows[name]!.spentUSD += lesson.spentUSD
        }
        let costliest: (Double, String, Double, String) -> Bool = { a, aName, b, bName in a != b ? a > b : aName < bName }
        return CostReport(
            runsCounted: runs.count, timeZone: zone.identifier, spentUSD: runCosts.reduce(0) { $0 + $1.spentUSD }, savedUSD: savedUSD, hits: hits,
            runs: runCosts.filter { $0.spentUSD > 0 || $0.command == .build },
            nights: nights.values.sorted { $0.night > $1.night },
            processors: processors.values.sorted { costliest($0.spentUSD, $0.processor, $1.spentUSD, $1.processor) },
            lessons: lessons.values.sorted { costliest($0.spentUSD, $0.item, $1.spentUSD, $1.item) },
            courses: courseRows.values.sorted { costliest($0.spentUSD, $0.course, $1.spentUSD, $1.course) },
            projection: nil, storage: nil, prices: [:], projectionError: nil)
    }
}
