import AcervoApp
import AcervoStore
import AcervoTestSupport
import Foundation
import Testing
@testable import AcervoServer

/// The schedule, driven by a clock the test moves: nothing here waits for a wall-clock time.
@Suite(.serialized) struct SchedulerTests {
    /// A service over `project` whose scheduler runs in a task; attempts arrive on the stream as they end.
    private func scheduled(_ project: TinyProject, clock: ManualClock) async throws
        -> (service: AcervoService, scheduler: NightlyScheduler, attempts: AsyncStream<BuildAttempt>, task: Task<Void, any Error>) {
        let service = try AcervoService(storePath: project.store, rulesPath: project.rules, variables: [:],
                                        options: .init(port: 0, request: .init(jobs: 2)), clock: clock, logger: LogLines().logger)
        let (attempts, continuation) = AsyncStream.makeStream(of: BuildAttempt.self)
        await service.coordinator.observe { continuation.yield($0) }
        let scheduler = try #require(service.scheduler)
        let task = Task { try await scheduler.run() }
        return (service, scheduler, attempts, task)
    }

    private func buildsOnRecord(_ project: TinyProject) async throws -> [Run] {
        try await Workspace(storePath: project.store, rulesPath: project.rules).runs(limit: 100).filter { $0.command == .build }
    }

    /// The daily time, in UTC, `minutes` after `date`'s (whole minutes).
    private func daily(at date: Date, plusMinutes minutes: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.hour, .minute], from: date.addingTimeInterval(Double(minutes) * 60))
        return String(format: "{ daily: \"%02d:%02d\", timezone: UTC, retry_after_minutes: 30 }", parts.hour!, parts.minute!)
    }

    @Test func `a night missed while the service was down runs once on start, not once per missed night`() async throws {
        let project = try TinyProject()
        _ = try await Workspace(storePath: project.store, rulesPath: project.rules).build(BuildRequest(jobs: 2))
        let lastBuild = Date()
        // The service comes back three days and a bit later: three nights were missed.
        let clock = ManualClock(now: lastBuild.addingTimeInterval(3 * 86_400 + 600))
        try project.writeRules(schedule: daily(at: lastBuild, plusMinutes: 5))
        let (service, scheduler, attempts, task) = try await scheduled(project, clock: clock)
        defer { task.cancel() }

        var iterator = attempts.makeAsyncIterator()
        let missed = try #require(await iterator.next())
        #expect(missed.trigger == .missedNight)
        #expect(missed.exitStatus == .success)
        // A scheduled build raises the build-running gauge as one asked for does (the service's own observer,
        // which lowers it when a build ends, is not installed here).
        #expect(String(decoding: service.metrics.exposition(), as: UTF8.self).contains("acervo_build_running 1.0"))
        // Then it sleeps until the next night, with nothing else run.
        let next = try await clock.sleeper()
        #expect(next > clock.now())
        #expect(next.timeIntervalSince(clock.now()) < 86_400)
        #expect(scheduler.next == NightlyScheduler.Planned(at: next, trigger: .schedule))
        #expect(try await buildsOnRecord(project).count == 2)

        // The night comes: one scheduled build.
        clock.advance(to: next)
        let night = try #require(await iterator.next())
        #expect(night.trigger == .schedule)
        let following = try await clock.sleeper()
        #expect(abs(following.timeIntervalSince(next) - 86_400) < 1)
        #expect(try await buildsOnRecord(project).count == 3)
    }

    @Test func `a night already served by a build is not run again on start`() async throws {
        let project = try TinyProject()
        _ = try await Workspace(storePath: project.store, rulesPath: project.rules).build(BuildRequest(jobs: 2))
        let built = Date()
        // The night's time was an hour before that build; the service starts a minute after it.
        try project.writeRules(schedule: daily(at: built, plusMinutes: -60))
        let clock = ManualClock(now: built.addingTimeInterval(60))
        let (_, _, _, task) = try await scheduled(project, clock: clock)
        defer { task.cancel() }
        let next = try await clock.sleeper()
        #expect(next.timeIntervalSince(built) > 22 * 3600, "the next night is tomorrow's")
        #expect(try await buildsOnRecord(project).count == 1)
    }

    @Test func `a failing night is retried once after the back-off, then the schedule goes on`() async throws {
        let project = try TinyProject()
        let start = Date()
        let schedule = daily(at: start, plusMinutes: 10)
        try project.writeRules(schedule: schedule)
        let clock = ManualClock(now: start)
        try project.writeRules(schedule: schedule)
        // First build of a new store: the night before counts as missed; let it run.
        let (_, scheduler, attempts, task) = try await scheduled(project, clock: clock)
        defer { task.cancel() }
        var iterator = attempts.makeAsyncIterator()
        #expect(try #require(await iterator.next()).trigger == .missedNight)

        let night = try await clock.sleeper()
        // The rules break before the night: the build cannot run.
        try project.writeRules(schedule: schedule, broken: true)
        clock.advance(to: night)
        let failed = try #require(await iterator.next())
        #expect(failed.trigger == .schedule)
        #expect(failed.exitStatus == .usage)
        #expect(failed.error?.contains("unknown key `rulez`") == true, "\(failed.error ?? "")")

        let retryAt = try await clock.sleeper()
        #expect(abs(retryAt.timeIntervalSince(night) - 1800) < 1, "one retry, 30 minutes later")
        #expect(scheduler.next?.trigger == .retry)
        // Still broken at the retry: it fails too, and the next attempt is the next night — not a third try.
        clock.advance(to: retryAt)
        #expect(try #require(await iterator.next()).trigger == .retry)
        let tomorrow = try await clock.sleeper()
        #expect(abs(tomorrow.timeIntervalSince(night) - 86_400) < 1)
        #expect(scheduler.next?.trigger == .schedule)

        // Fixed by then: the night succeeds.
        try project.writeRules(schedule: schedule)
        clock.advance(to: tomorrow)
        let fixed = try #require(await iterator.next())
        #expect(fixed.trigger == .schedule && fixed.exitStatus == .success)
    }

    @Test func `one build at a time: a second start is refused while one runs, here or in another process`() async throws {
        let project = try TinyProject(schedule: nil)
        let service = try AcervoService(storePath: project.store, rulesPath: project.rules, variables: [:],
                                        options: .init(port: 0), logger: LogLines().logger)
        // Two starts at once: exactly one runs.
        async let first = service.coordinator.start(.manual)
        async let second = service.coordinator.start(.manual)
        let starts = await [first, second]
        let started = starts.compactMap { if case .started(let task) = $0 { task } else { nil } }
        let refused = starts.compactMap { if case .busy(let why) = $0 { why } else { nil } }
        #expect(started.count == 1)
        #expect(refused.count == 1 && refused[0].contains("build"), "\(refused)")
        #expect(await started[0].value.exitStatus == .success)

        // Another process holds the store: refused, naming it.
        let holder = try StoreLockHolder(store: project.store)
        defer { holder.stop() }
        guard case .busy(let why) = await service.coordinator.start(.manual) else {
            Issue.record("a build started while another process held the store")
            return
        }
        #expect(why.contains("pid \(holder.pid)"), "\(why)")
    }
}

extension SchedulerTests {
    @Test func `graceful shutdown while the schedule waits for the night ends the service at once`() async throws {
        let project = try TinyProject()
        _ = try await Workspace(storePath: project.store, rulesPath: project.rules).build(BuildRequest(jobs: 2))
        try project.writeRules(schedule: daily(at: Date(), plusMinutes: -30))
        let clock = ManualClock(now: Date())
        let running = try await RunningService.start(project, clock: clock)
        let night = try await clock.sleeper()
        #expect(night > clock.now())
        try await running.stop()
        #expect(try await buildsOnRecord(project).count == 1, "no build started on the way out")
    }
}
