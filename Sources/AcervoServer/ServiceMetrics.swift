import AcervoApp
import AcervoConnectors
import AcervoEngine
import AcervoStore
import Foundation
import Prometheus
import Synchronization

/// What `/metrics` exposes, in Prometheus' text format. Counters count what this process saw (Prometheus
/// handles restarts); gauges describe the store and are refreshed when a build ends and at start, so a
/// scrape never walks the store.
public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let buildDuration: ValueHistogram
    private let building: Gauge
    private let startedAt: Gauge
    private let documents: Gauge
    private let storeBytes: Gauge
    // Facts that have no value until something happened (no build succeeded yet on a fresh store, no sync, no
    // schedule): absent from `/metrics` until then, never a 0 that alert rules would read as "long ago" or "failed".
    private let lastSuccess = Gauges.Lazy(("acervo_last_success_timestamp_seconds",
                                                  help: "When the newest build that ended without failures ended (Unix time; absent: none yet)."))
    private let lastBuildSucceeded = Gauges.Lazy(("acervo_last_build_success",
                                                         help: "1 when the newest finished build ended without failures, 0 when it did not (absent: none yet; interrupted builds do not count)."))
    private let lastBudgetReached = Gauges.Lazy(("acervo_last_build_budget_reached",
                                                        help: "1 when the newest finished build stopped starting paid actions at the budget (absent: none yet)."))
    private let lastSyncSucceeded = Gauges.Lazy(("acervo_last_sync_success",
                                                        help: "1 when the newest sync to the vector store completed, 0 when it failed (absent: no sync yet)."))
    private let nextBuild = Gauges.Lazy(("acervo_next_build_timestamp_seconds",
                                                help: "When the schedule starts the next build (Unix time; absent: no schedule)."))

    public init(startedAt date: Date = Date()) {
        buildDuration = registry.makeValueHistogram(
            descriptor: .acervo("acervo_build_duration_seconds", help: "How long builds took, from start to the end of their sync."),
            labels: [], buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800])
        building = registry.makeGauge(descriptor: .acervo("acervo_build_running", help: "1 while this service runs a build."))
        startedAt = registry.makeGauge(descriptor: .acervo("acervo_service_start_timestamp_seconds", help: "When this service started (Unix time)."))
        documents = registry.makeGauge(descriptor: .acervo("acervo_knowledge_base_documents", help: "Documents in the newest snapshot."))
        storeBytes = registry.makeGauge(descriptor: .acervo("acervo_store_result_bytes", help: "Bytes of the stored action results' outputs."))
        startedAt.set(to: date.timeIntervalSince1970)
    }

    /// The exposition, as `/metrics` serves it.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// One decided action of a running build.
    public func decided(rule: String, decision: Decision) {
        registry.makeCounter(descriptor: .acervo("acervo_actions_total", help: "Actions decided by builds, by rule and resolution (hit, executed, failed, skipped)."),
                             labels: [("rule", rule), ("resolution", decision.rawValue)]).increment()
    }

    public func buildStarted() { building.set(to: 1) }

    /// A build that ended; `costs` are the dollars its executed actions spent, by processor.
    public func buildEnded(_ attempt: BuildAttempt, costs: [String: Double]) {
        building.set(to: 0)
        let status = attempt.outcome.map { $0.summary.status.rawValue }
            ?? (attempt.exitStatus == .locked ? "busy" : attempt.exitStatus == .interrupted ? RunStatus.interrupted.rawValue : RunStatus.error.rawValue)
        registry.makeCounter(descriptor: .acervo("acervo_builds_total",
                                                 help: "Builds by how they ended (ok, failed, budget, interrupted, error; busy: another build held the store)."),
                             labels: [("status", status)]).increment()
        buildDuration.record(attempt.endedAt.timeIntervalSince(attempt.startedAt))
        // An interrupted build neither succeeded nor failed: the next start completes it.
        if attempt.exitStatus != .interrupted {
            lastBuildSucceeded.set(in: registry, to: attempt.exitStatus == .success ? 1 : 0)
            lastBudgetReached.set(in: registry, to: attempt.exitStatus == .budgetReached ? 1 : 0)
        }
        if attempt.exitStatus == .success { lastSuccess.set(in: registry, to: attempt.endedAt.timeIntervalSince1970) }
        if let outcome = attempt.outcome, !outcome.syncStopped, outcome.sync != nil || outcome.syncError != nil {
            let ok = outcome.syncError == nil && outcome.sync?.isComplete == true
            lastSyncSucceeded.set(in: registry, to: ok ? 1 : 0)
            registry.makeCounter(descriptor: .acervo("acervo_syncs_total", help: "Syncs of the knowledge base to the sink, by outcome."),
                                 labels: [("status", ok ? "ok" : "failed")]).increment()
        }
        for (processor, dollars) in costs where dollars > 0 {
            registry.makeCounter(descriptor: .acervo("acervo_cost_usd_total", help: "Dollars spent by executed actions, by processor."),
                                 labels: [("processor", processor)]).increment(by: dollars)
        }
    }

    /// A call to a provider (`status`: the HTTP status, or `none` when no answer came) or a retry.
    public func providerCall(_ call: ProviderCall) {
        switch call {
        case .answered(let provider, let status):
            providerRequest(provider, "\(status)")
        case .noAnswer(let provider):
            providerRequest(provider, "none")
        case .retried(let provider):
            registry.makeCounter(descriptor: .acervo("acervo_provider_retries_total", help: "Provider calls tried again, by provider."),
                                 labels: [("provider", provider)]).increment()
        }
    }

    private func providerRequest(_ provider: String, _ status: String) {
        registry.makeCounter(descriptor: .acervo("acervo_provider_requests_total",
                                                 help: "Calls to providers (Hotmart, Google, Gemini, OpenAI, Slack, media), by HTTP status; none: no answer."),
                             labels: [("provider", provider), ("status", status)]).increment()
    }

    /// A notification delivered, or given up after its retries.
    public func notification(channel: String, sent: Bool) {
        registry.makeCounter(descriptor: .acervo("acervo_notifications_total", help: "Notifications by channel and outcome (sent, failed)."),
                             labels: [("channel", channel), ("status", sent ? "sent" : "failed")]).increment()
    }

    /// What the store says of the builds before this process started: when one last succeeded, and how the
    /// newest finished one ended (`ok`, `failed`, `budget`, `error`). Nil leaves the gauges absent.
    public func recorded(lastSuccessAt date: Date?, newestFinished status: RunStatus?) {
        if let date { lastSuccess.set(in: registry, to: date.timeIntervalSince1970) }
        if let status {
            lastBuildSucceeded.set(in: registry, to: status == .ok ? 1 : 0)
            lastBudgetReached.set(in: registry, to: status == .budget ? 1 : 0)
        }
    }

    public func nextBuild(at date: Date?) {
        if let date { nextBuild.set(in: registry, to: date.timeIntervalSince1970) } else { nextBuild.remove(from: registry) }
    }

    /// The store's figures: the knowledge base and, per processor, what the cache holds, cost and saved.
    public func storeFigures(documents count: Int, statistics: CacheStatistics) {
        documents.set(to: Double(count))
        storeBytes.set(to: Double(statistics.total.bytes))
        for row in statistics.processors {
            let labels = [("processor", row.processor)]
            registry.makeGauge(descriptor: .acervo("acervo_cache_entries", help: "Stored action results, by processor."), labels: labels)
                .set(to: Double(row.entries))
            registry.makeGauge(descriptor: .acervo("acervo_cache_spent_usd", help: "Dollars the stored results cost when they were made, by processor."),
                               labels: labels).set(to: row.spentUSD)
            registry.makeGauge(descriptor: .acervo("acervo_cache_saved_usd",
                                                   help: "Dollars saved by reusing stored results instead of paying again, by processor."),
                               labels: labels).set(to: row.savedUSD)
        }
    }
}

extension MetricNameDescriptor {
    /// A metric named in full (`acervo_build_duration_seconds`): its last word is the unit.
    static func acervo(_ name: String, help: String) -> MetricNameDescriptor {
        let unit = name.split(separator: "_").last.map(String.init) ?? ""
        return MetricNameDescriptor(metricName: String(name.dropLast(unit.count + 1)), unitName: unit, helpText: help)
    }
}

/// Gauges created on first use.
enum Gauges {
    /// A gauge that is not exposed until it has a value (and can be withdrawn again).
    final class Lazy: Sendable {
        private let name: String
        private let help: String
        private let gauge = Mutex<Gauge?>(nil)

        init(_ named: (name: String, help: String)) {
            name = named.name
            help = named.help
        }

        func set(in registry: PrometheusCollectorRegistry, to value: Double) {
            gauge.withLock { gauge in
                if gauge == nil { gauge = registry.makeGauge(descriptor: .acervo(name, help: help)) }
                gauge?.set(to: value)
            }
        }

        func remove(from registry: PrometheusCollectorRegistry) {
            gauge.withLock { gauge in
                if let existing = gauge { registry.unregisterGauge(existing) }
                gauge = nil
            }
        }
    }
}
