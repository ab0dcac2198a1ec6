import AcervoApp
import AcervoRules
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Builds at the schedule's times, one at a time, through the coordinator.
///
/// - A night whose time passed while the service was down runs once when the service starts — once, not once
///   per missed night: the newest due time is compared with the newest build on record.
/// - A failed night (or one that found the store busy) is tried once more, `retryAfterSeconds` later.
/// - Graceful shutdown stops the schedule; a running build commits what runs and is waited for.
public final class NightlyScheduler: Service {
    private let schedule: ScheduleSettings
    private let coordinator: BuildCoordinator
    private let clock: any WallClock
    private let logger: Logger
    /// When the newest build on record that finished started (any build: one run by hand after the night's
    /// time serves it; one that was interrupted or died did not).
    private let lastBuildStart: @Sendable () async -> Date?
    private let state = Mutex<Planned?>(nil)

    /// The next build the schedule will start, and why.
    public struct Planned: Sendable, Encodable, Equatable {
        public var at: Date
        public var trigger: BuildTrigger
    }

    public init(schedule: ScheduleSettings, coordinator: BuildCoordinator, clock: any WallClock, logger: Logger,
                lastBuildStart: @escaping @Sendable () async -> Date?) {
        self.schedule = schedule
        self.coordinator = coordinator
        self.clock = clock
        self.logger = logger
        self.lastBuildStart = lastBuildStart
    }

    /// The next planned build (nil while one runs or after shutdown).
    public var next: Planned? { state.withLock { $0 } }

    public func run() async throws {
        // Graceful shutdown stops the running build at once (no new action starts; it ends within its grace)
        // and cancels the loop (a sleep until 03:00 ends at once); then the build is waited for.
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown { [self] in await loop() }
        } onGracefulShutdown: { [coordinator] in
            coordinator.beginShutdown()
        }
        await coordinator.stopAndWait()
        state.withLock { $0 = nil }
    }

    @Sendable private func loop() async {
        let now = clock.now()
        if let due = schedule.previousRun(atOrBefore: now), (await lastBuildStart()).map({ $0 < due }) ?? true {
            logger.info("the night of \(schedule.localTime(due)) has not run (or did not finish): building now")
            guard await night(.missedNight, at: now) else { return }
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard let next = schedule.nextRun(after: clock.now()) else { return }
            guard await night(.schedule, at: next) else { return }
        }
    }

    /// Waits until `time`, builds, and retries once after a failure. False when the service is stopping.
    private func night(_ trigger: BuildTrigger, at time: Date) async -> Bool {
        guard let attempt = await build(trigger, at: time) else { return false }
        guard attempt.deservesRetry else { return true }
        let retryAt = clock.now().addingTimeInterval(schedule.retryAfterSeconds)
        logger.warning("the night failed (exit \(attempt.exitStatus.rawValue)): one retry at \(retryAt.formatted(.iso8601))")
        return await build(.retry, at: retryAt) != nil
    }

    /// One build at `time`; a build that finds another running counts as a failed attempt.
    private func build(_ trigger: BuildTrigger, at time: Date) async -> BuildAttempt? {
        state.withLock { $0 = Planned(at: time, trigger: trigger) }
        do {
            try await clock.sleep(until: time)
        } catch {
            return nil
        }
        if Task.isShuttingDownGracefully { return nil }
        state.withLock { $0 = nil }
        return await coordinator.run(trigger)
    }
}
