import AcervoApp
import AcervoConnectors
import AcervoEngine
import AcervoStore
import Foundation
import Prometheus

/// What `/metrics` exposes, in Prometheus' text format. Counters count what this process saw (Prometheus
/// handles restarts); gauges describe the store and are refreshed when a build ends and at start, so a
/// scrape never walks the store.
public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let buildDuration: ValueHistogram
    private let lastSuccess: Gauge
    private let lastBuildSucceeded: Gauge
    private let lastBudgetReached: Gauge
    private let lastSyncSucceeded: Gauge
    private let building: Gauge
    private let nextBuild: Gauge
    private let documents: Gauge
    private let storeBytes: Gauge

    public init() {
        buildDuration = registry.makeValueHistogram(
            descriptor: .acervo("acervo_build_duration_seconds", help: "How long builds took, from start to the end of their sync."),
            labels: [], buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800])
        lastSuccess = registry.makeGauge(descriptor: .acervo("acervo_last_success_timestamp_seconds",
                                                             help: "When the newest build that ended without failures ended (Unix time; 0: never)."))
        lastBuildSucceeded = registry.makeGauge(descriptor: .acervo("acervo_last_build_success",
                                                                    help: "1 when the newest build ended without failures, 0 when it did not."))
        lastBudgetReached = registry.makeGauge(descriptor: .acervo("acervo_last_build_budget_reached",
                                                                   help: "1 when the newest build stopped starting paid actions at the budget."))
        lastSyncSucceeded = registry.makeGauge(descriptor: .acervo("acervo_last_sync_success",
                                                                   help: "1 when the newest sync to the vector store completed, 0 when it failed."))
        building = registry.makeGauge(descriptor: .acervo("acervo_build_running", help: "1 while this service runs a build."))
        nextBuild = registry.makeGauge(descriptor: .acervo("acervo_next_build_timestamp_seconds",
                                                           help: "When the schedule starts the next build (Unix time; 0: no schedule)."))
        documents = registry.makeGauge(descriptor: .acervo("acervo_knowledge_base_documents", help: "Documents in the newest snapshot."))
        storeBytes = registry.makeGauge(descriptor: .acervo("acervo_store_result_bytes", help: "Bytes of the stored action results' outputs."))
        lastSyncSucceeded.set(to: 1)
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
        let status = attempt.outcome.map { $0.summary.status.rawValue } ?? (attempt.exitStatus == .locked ? "busy" : RunStatus.error.rawValue)
        registry.makeCounter(descriptor: .acervo("acervo_builds_total",
                                                 help: "Builds by how they ended (ok, failed, budget, interrupted, error; busy: another build held the store)."),
                             labels: [("status", status)]).increment()
        buildDuration.record(attempt.endedAt.timeIntervalSince(attempt.startedAt))
        lastBuildSucceeded.set(to: attempt.exitStatus == .success ? 1 : 0)
        lastBudgetReached.set(to: attempt.exitStatus == .budgetReached ? 1 : 0)
        if attempt.exitStatus == .success { lastSuccess.set(to: attempt.endedAt.timeIntervalSince1970) }
        if let outcome = attempt.outcome, outcome.sync != nil || outcome.syncError != nil {
            let ok = outcome.syncError == nil && outcome.sync?.isComplete == true
            lastSyncSucceeded.set(to: ok ? 1 : 0)
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

    public func lastSuccess(at date: Date?) { lastSuccess.set(to: date?.timeIntervalSince1970 ?? 0) }

    public func nextBuild(at date: Date?) { nextBuild.set(to: date?.timeIntervalSince1970 ?? 0) }

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
