import AcervoConnectors
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoStore
import AcervoTools
import Foundation

/// What a build is asked to do (`acervo build`, a scheduled night, `POST /api/builds`).
public struct BuildRequest: Sendable {
    public var jobs: Int
    /// Overrides `budget_usd` from the rules.
    public var budgetUSD: Double?
    /// Rules to recompute even where a result exists.
    public var refresh: [String]
    /// Wait for a running build instead of failing with `ExitStatus.locked`.
    public var wait: Bool
    /// Publish the snapshot to the pipeline's sink afterwards (when it has one).
    public var sync: Bool
    /// A course folder read instead of the one pipeline.yaml names.
    public var sourceOverride: String?
    /// Retries of retryable processor failures.
    public var retry: RetryPolicy
    /// Once the build is told to stop (SIGTERM, Ctrl-C, the service shutting down), how long the actions
    /// running then may go on to commit before they are ended and recorded as interrupted.
    public var stopGraceSeconds: Double

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, budgetUSD: Double? = nil, refresh: [String] = [], wait: Bool = false,
                sync: Bool = true, sourceOverride: String? = nil, retry: RetryPolicy = RetryPolicy(),
                stopGraceSeconds: Double = StopFlag.defaultGraceSeconds) {
        self.stopGraceSeconds = stopGraceSeconds
        self.jobs = jobs
        self.budgetUSD = budgetUSD
        self.refresh = refresh
        self.wait = wait
        self.sync = sync
        self.sourceOverride = sourceOverride
        self.retry = retry
    }
}

/// What a build did: the build's summary, and the sink's report when the snapshot was published — or why
/// publishing failed. `acervo build --json` prints it: the summary's fields, plus `sync` or `syncError`.
public struct BuildOutcome: Sendable, Encodable {
    public var summary: BuildSummary
    public var sync: SyncReport?
    /// Publishing could not be done at all (the sink unreachable, a key missing); the build itself stands.
    public var syncError: String?
    /// The stop came while the snapshot was being published: the next build publishes it.
    public var syncStopped = false

    public init(summary: BuildSummary, sync: SyncReport? = nil, syncError: String? = nil) {
        self.summary = summary
        self.sync = sync
        self.syncError = syncError
    }

    public var exitStatus: ExitStatus {
        let build = ExitStatus(summary)
        guard build == .success else { return build }
        if syncStopped { return .interrupted }
        if syncError != nil || sync?.isComplete == false { return .failedActions }
        return .success
    }

    enum CodingKeys: String, CodingKey {
        case sync, syncError
    }

    public func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(sync, forKey: .sync)
        try container.encodeIfPresent(syncError, forKey: .syncError)
    }
}

extension Workspace {
    /// Detects what changed, runs it, snapshots the knowledge base and publishes it to the sink — holding the
    /// store lock throughout, recording a run for the build and one for the sync.
    public func build(_ request: BuildRequest, reporter: any BuildReporter = SilentReporter(), stop: StopFlag = StopFlag()) async throws -> BuildOutcome {
        guard request.jobs >= 1 else { throw AppError.usage("--jobs must be at least 1") }
        let pipeline = try pipeline()
        for rule in request.refresh where pipeline.rule(named: rule) == nil {
            throw AppError.usage("--refresh \(rule): no such rule (rules: \(pipeline.rules.map(\.name).joined(separator: ", ")))")
        }
        let store = try await store()
        return try await locked(store, purpose: "acervo build", wait: request.wait) {
            try await withConnectors { connectors in
                try await build(request, pipeline: pipeline, store: store, connectors: connectors, reporter: reporter, stop: stop)
            }
        }
    }

    /// The build itself, under the lock: evaluate, record the run, publish.
    private func build(_ request: BuildRequest, pipeline: Pipeline, store: Store, connectors: ConnectorContext,
                       reporter: any BuildReporter, stop: StopFlag) async throws -> BuildOutcome {
        // What a build killed before it could clean up left behind (its children died with it).
        StaleScratch.removeLeftovers()
        let evaluator = Evaluator(store: store, pipeline: pipeline,
                                  source: try Registry.source(pipeline, overridePath: request.sourceOverride, connectors: connectors),
                                  processors: Registry.processors(pipeline, connectors: connectors))
        // The sink is made before anything runs: a missing key fails now, not after an hour of building.
        var sink: (any Sink)?
        if request.sync { sink = try Registry.sink(pipeline.sink, connectors: connectors) }
        let options = BuildOptions(jobs: request.jobs, budgetUSD: request.budgetUSD, refresh: Set(request.refresh), retry: request.retry)
        let summary = try await recordingRun(.build, in: store) { run in
            let summary = try await evaluator.build(run: run, options: options, reporter: reporter, stop: stop)
            return (summary, summary.status, summary.canonicalJSON)
        }
        var outcome = BuildOutcome(summary: summary)
        guard let sink, !summary.interrupted, !stop.isRaised, let snapshot = summary.snapshot else { return outcome }
        do {
            // The sync is bounded by the same stop: it ends within the grace, and the next build publishes.
            outcome.sync = try await stop.bounding { [self] in
                try await publish(try Digest(parsing: snapshot), to: sink, command: .buildSync, store: store)
            }
        } catch where stop.isRaised {
            outcome.syncStopped = true
            outcome.syncError = "stopped before the knowledge base was published; the next build publishes it"
        } catch {
            outcome.syncError = "\(error)"
        }
        return outcome
    }

    /// What a build would run now, why, and what it would cost — without running or paying for anything.
    public func plan(refresh: [String] = [], sourceOverride: String? = nil) async throws -> BuildPlan {
        let pipeline = try pipeline()
        let store = try await store()
        return try await classified {
            try await withConnectors { connectors in
                let evaluator = Evaluator(store: store, pipeline: pipeline,
                                          source: try Registry.source(pipeline, overridePath: sourceOverride, connectors: connectors),
                                          processors: Registry.processors(pipeline, connectors: connectors))
                return try await evaluator.plan(options: BuildOptions(refresh: Set(refresh)))
            }
        }
    }

    /// Publishes a snapshot to a sink as a run of its own.
    func publish(_ snapshot: Digest, to sink: any Sink, command: RunCommand, store: Store) async throws -> SyncReport {
        let manifest = try await SnapshotManifest.load(snapshot, from: store)
        return try await recordingRun(command, in: store) { run in
            let report = try await sink.publish(manifest, snapshot: snapshot, run: run.id, store: store, progress: log)
            return (report, report.isComplete ? .ok : .failed, report.canonicalJSON)
        }
    }
}
