import AcervoApp
import AcervoEngine
import AcervoStore
import Foundation
import Logging
import Synchronization

/// Why a build started.
public enum BuildTrigger: String, Sendable, Codable {
    /// The schedule's time came.
    case schedule
    /// The night's time had passed while the service was down: it runs once, on start.
    case missedNight = "missed_night"
    /// The night failed; this is its one retry.
    case retry
    /// Someone asked (`POST /api/builds`, the dashboard's button).
    case manual
}

extension BuildTrigger {
    /// The trigger as people read it (pages, notifications).
    public var words: String {
        switch self {
        case .schedule: return "nightly"
        case .missedNight: return "missed night, run at start"
        case .retry: return "retry of a failed night"
        case .manual: return "started by hand"
        }
    }
}

/// One build the service ran, however it ended.
public struct BuildAttempt: Sendable, Encodable {
    public var trigger: BuildTrigger
    public var startedAt: Date
    public var endedAt: Date
    /// What the build did; nil when it could not run (see `error`).
    public var outcome: BuildOutcome?
    public var error: String?
    public var exitStatus: ExitStatus
    /// The source's catalog shrank past `max_shrink` and the build refused it.
    public var refusedShrink = false

    /// A night that should be tried again: it failed, could not run or found the store busy. A night stopped
    /// at the budget is not (a retry would stop at the same place), nor one interrupted by a shutdown (the
    /// next start runs it).
    var deservesRetry: Bool { exitStatus != .success && exitStatus != .budgetReached && exitStatus != .interrupted }

    enum CodingKeys: String, CodingKey {
        case trigger, outcome, error, startedAt, endedAt, exitStatus, refusedShrink
    }
}

/// The one place the service starts builds: one at a time in this process (the store lock keeps other
/// processes out), each watched live, each reported to the observers when it ends.
public actor BuildCoordinator {
    /// The answer to "build now".
    public enum Start: Sendable {
        case started(Task<BuildAttempt, Never>)
        /// Another build runs (here, or in another process holding the store lock).
        case busy(String)
    }

    public struct Running: Sendable, Encodable {
        public var trigger: BuildTrigger
        public var startedAt: Date
        public var progress: LiveProgress.Snapshot

        enum CodingKeys: String, CodingKey {
            case trigger, progress, startedAt
        }
    }

    private let workspace: Workspace
    private let request: BuildRequest
    private let clock: any WallClock
    private let logger: Logger
    private let onStart: @Sendable () -> Void
    private let onDecision: @Sendable (String, Decision) -> Void
    private let currentRun: CurrentRun
    private var observers: [@Sendable (BuildAttempt) async -> Void] = []
    private var current: (trigger: BuildTrigger, startedAt: Date, task: Task<BuildAttempt, Never>, stop: StopFlag, progress: LiveProgress)?
    /// Whether the service is shutting down, and the stop flag of the build running now: both reachable
    /// without the actor, so a signal handler stops the build the moment it is called.
    private let shutdown = Mutex<(requested: Bool, stop: StopFlag?)>((false, nil))
    public private(set) var lastAttempt: BuildAttempt?

    /// `request` is what every build asks for (jobs, budget, sync); `onStart` learns that a build started,
    /// `onDecision` sees each decided action.
    public init(workspace: Workspace, request: BuildRequest, clock: any WallClock, logger: Logger, currentRun: CurrentRun = CurrentRun(),
                onStart: @escaping @Sendable () -> Void = {}, onDecision: @escaping @Sendable (String, Decision) -> Void = { _, _ in }) {
        self.currentRun = currentRun
        self.onStart = onStart
        self.workspace = workspace
        self.request = request
        self.clock = clock
        self.logger = logger
        self.onDecision = onDecision
    }

    /// Called with every attempt once it ended (metrics, notifications), in the order added.
    public func observe(_ observer: @escaping @Sendable (BuildAttempt) async -> Void) {
        observers.append(observer)
    }

    /// The build running now, with its progress.
    public var running: Running? {
        current.map { Running(trigger: $0.trigger, startedAt: $0.startedAt, progress: $0.progress.snapshot) }
    }

    /// Starts a build unless one runs; never waits for the store lock. `refresh` names rules to recompute.
    public func start(_ trigger: BuildTrigger, refresh: [String] = []) async -> Start {
        if shutdown.withLock({ $0.requested }) { return .busy("the service is shutting down") }
        if let running = runningHere { return .busy(running) }
        do {
            if let holder = try await workspace.lockHolder() { return .busy("the store is held by \(holder)") }
        } catch {
            // A probe that fails says nothing about who holds the store: not starting is the safe answer.
            return .busy("the store's lock cannot be checked: \(AppError(error).message)")
        }
        // The checks above suspended: look again before taking the slot.
        if let running = runningHere { return .busy(running) }
        let stop = StopFlag(graceSeconds: request.stopGraceSeconds)
        guard shutdown.withLock({ state in
            if state.requested { return false }
            state.stop = stop
            return true
        }) else { return .busy("the service is shutting down") }
        let progress = LiveProgress(onStart: { [currentRun] in currentRun.set($0) }, onDecision: onDecision)
        let startedAt = clock.now()
        var request = self.request
        request.refresh = refresh
        let task = Task { [workspace, request, clock, logger] in
            var logger = logger
            logger[metadataKey: "trigger"] = .string(trigger.rawValue)
            logger.info("build starting")
            var attempt: BuildAttempt
            do {
                let outcome = try await workspace.build(request, reporter: progress, stop: stop)
                attempt = BuildAttempt(trigger: trigger, startedAt: startedAt, endedAt: clock.now(), outcome: outcome, error: nil,
                                       exitStatus: outcome.exitStatus)
            } catch {
                let failure = AppError(error)
                attempt = BuildAttempt(trigger: trigger, startedAt: startedAt, endedAt: clock.now(), outcome: nil, error: failure.message,
                                       exitStatus: failure.status, refusedShrink: failure.kind == .catalogShrank)
            }
            if let run = attempt.outcome?.summary.run { logger[metadataKey: "run"] = .string(run) }
            logger.log(level: attempt.exitStatus == .success ? .info : .warning, "build ended", metadata: attempt.logMetadata)
            await self.finished(attempt)
            return attempt
        }
        current = (trigger, startedAt, task, stop, progress)
        onStart()
        return .started(task)
    }

    /// Why a build cannot start because this service runs one, or nil.
    private var runningHere: String? {
        current.map { "a \($0.trigger.rawValue) build started at \($0.startedAt.formatted(.iso8601)) is running" }
    }

    /// Starts a build and waits for it. One that cannot start (another runs, here or elsewhere) is an attempt
    /// too — it ended at once, with `ExitStatus.locked` and the reason — so a night that found the store busy
    /// counts as failed and is retried.
    public func run(_ trigger: BuildTrigger) async -> BuildAttempt {
        switch await start(trigger) {
        case .started(let task):
            return await task.value
        case .busy(let why):
            logger.warning("the \(trigger.rawValue) build did not start: \(why)")
            let now = clock.now()
            return BuildAttempt(trigger: trigger, startedAt: now, endedAt: now, outcome: nil, error: why, exitStatus: .locked)
        }
    }

    /// The service is stopping: no build starts any more, and the running one starts no new action — its
    /// running actions commit, or are interrupted when the grace runs out. Returns at once; callable from a
    /// signal handler.
    public nonisolated func beginShutdown() {
        shutdown.withLock { state in
            state.requested = true
            return state.stop
        }?.raise()
    }

    /// Graceful shutdown: `beginShutdown`, then the running build is waited for (it ends within its grace).
    public func stopAndWait() async {
        beginShutdown()
        guard let current else { return }
        _ = await current.task.value
    }

    /// Observers first (the figures the pages show are refreshed), then the slot is free: whoever sees no build
    /// running sees its results.
    private func finished(_ attempt: BuildAttempt) async {
        currentRun.set(nil)
        shutdown.withLock { $0.stop = nil }
        for observer in observers { await observer(attempt) }
        lastAttempt = attempt
        current = nil
    }
}

extension BuildAttempt {
    /// The facts of an attempt as log metadata (counts, cost, the error): never a secret, since errors
    /// from the connectors are scrubbed where they are made.
    var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["exitStatus": .stringConvertible(exitStatus.rawValue),
                                         "seconds": .string(String(format: "%.1f", endedAt.timeIntervalSince(startedAt)))]
        if let summary = outcome?.summary {
            metadata["executed"] = .stringConvertible(summary.executed)
            metadata["hits"] = .stringConvertible(summary.hits)
            metadata["failed"] = .stringConvertible(summary.failed)
            metadata["costUSD"] = .string(String(format: "%.4f", summary.costUSD))
            if let snapshot = summary.snapshot { metadata["snapshot"] = .string(snapshot) }
        }
        if let error { metadata["error"] = .string(error) }
        if let syncError = outcome?.syncError { metadata["syncError"] = .string(syncError) }
        return metadata
    }
}
