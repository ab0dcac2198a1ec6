import AcervoApp
import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
import Hummingbird
import HTTPTypes
import UnixSignals
import Logging
import ServiceLifecycle
import Synchronization

/// `acervo serve`: one process that builds on the schedule and serves the dashboard, the JSON API and
/// `/metrics`, all over the same `Workspace` use cases the CLI calls.
public final class AcervoService: Sendable {
    /// Where to listen and what every build asks for.
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var request: BuildRequest
        /// The address people use to reach the dashboard (behind a proxy), for links in notifications.
        public var publicURL: String?

        public init(host: String = "127.0.0.1", port: Int = 8080, request: BuildRequest = BuildRequest(), publicURL: String? = nil) {
            self.host = host
            self.port = port
            self.request = request
            self.publicURL = publicURL
        }
    }

    let workspace: Workspace
    let options: Options
    let access: AccessPolicy
    let metrics: ServiceMetrics
    let coordinator: BuildCoordinator
    let scheduler: NightlyScheduler?
    let notifier: Notifier?
    let snapshotMemo = SnapshotMemo()
    /// Every secret the service knows (its tokens, the providers'): scrubbed from every page it serves.
    let knownSecrets: [Secret]
    let hitsByRuleMemo = RecentlyUsed<Digest, [(key: String, value: Int)]>(capacity: 16)
    let schedule: ScheduleSettings?
    let clock: any WallClock
    let logger: Logger
    let startedAt: Date
    private let storeFigures = Mutex(StoreFigures())
    private let prepared = Atomic<Bool>(false)

    /// The store's figures as last read (after a build, at start): what the overview, the cache page and
    /// the gauges show without walking the store on each request.
    struct StoreFigures: Sendable {
        var knowledgeBase: SnapshotInfo?
        var statistics: CacheStatistics?
        var readAt: Date?
        var cache: CacheStatistics.Row { statistics?.total ?? CacheStatistics.Row(processor: "total") }
    }

    var figures: StoreFigures { storeFigures.withLock { $0 } }

    /// Checks the configuration before anything listens: the rules load, and an address beyond loopback has an
    /// admin token (else anyone who reaches it would be admin).
    public init(storePath: String, rulesPath: String, variables: [String: String] = ProcessInfo.processInfo.environment, options: Options,
                clock: any WallClock = SystemClock(), logger: Logger) throws {
        let currentRun = CurrentRun()
        let metrics = ServiceMetrics(startedAt: clock.now())
        self.metrics = metrics
        // What the use cases tell (a provider's retry, a sync's steps) is logged with the run it belongs to.
        let workspace = Workspace(storePath: storePath, rulesPath: rulesPath, variables: variables, log: { line in
            logger.info("\(line)", metadata: currentRun.metadata)
        }, observeCalls: { metrics.providerCall($0) })
        let pipeline = try workspace.pipeline()
        access = AccessPolicy(adminToken: try workspace.secret(AccessPolicy.adminVariable),
                              viewerToken: try workspace.secret(AccessPolicy.viewerVariable))
        knownSecrets = try workspace.knownSecrets(AccessPolicy.variables)
        if !AccessPolicy.isLoopback(options.host), !access.hasAdmin {
            throw AppError("--listen \(options.host): beyond loopback every caller must prove who they are, and no admin token is set",
                           status: .usage)
                .with(fix: "set \(AccessPolicy.adminVariable) (or \(AccessPolicy.adminVariable)_FILE), and \(AccessPolicy.viewerVariable) for read-only access; or listen on 127.0.0.1 behind a reverse proxy")
        }
        self.workspace = workspace
        self.options = options
        self.clock = clock
        self.logger = logger
        self.schedule = pipeline.schedule
        startedAt = clock.now()
        let coordinator = BuildCoordinator(workspace: workspace, request: options.request, clock: clock, logger: logger, currentRun: currentRun,
                                           onStart: { metrics.buildStarted() }, onDecision: { metrics.decided(rule: $0, decision: $1) })
        self.coordinator = coordinator
        notifier = try pipeline.notify.map {
            try Notifier(settings: $0, workspace: workspace, publicURL: options.publicURL, logger: logger, metrics: metrics)
        }
        scheduler = pipeline.schedule.map { schedule in
            NightlyScheduler(schedule: schedule, coordinator: coordinator, clock: clock, logger: logger,
                             lastBuildStart: { try? await workspace.recentBuilds().first { $0.status.finished }?.startedAt })
        }
    }

    /// Serves until `gracefulShutdownSignals` arrive (or the task is cancelled); `onListening` is told the
    /// port (useful with port 0), `groupReady` the service group (whose graceful shutdown is SIGTERM's).
    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint], onListening: @escaping @Sendable (Int) -> Void = { _ in },
                    groupReady: @Sendable (ServiceGroup) -> Void = { _ in }) async throws {
        await prepare()
        let application = Application(
            router: router(),
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? 0
                let host = channel.localAddress?.ipAddress ?? options.host
                // An IPv6 address is bracketed in a URL: `http://[::1]:8080`.
                logger.info("listening", metadata: ["address": .string("http://\(host.contains(":") ? "[\(host)]" : host):\(port)"),
                                                    "access": .string(accessDescription)])
                onListening(port)
            },
            logger: logger)
        logger.info("schedule", metadata: ["nextBuild": .string(nextBuildDescription)])
        // Shut down in reverse order: the announcer first (it stops a running build at once), the schedule,
        // then any build (it commits what runs, or is interrupted when its grace ends), then the server.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: application), .init(service: BuildDrain(coordinator: coordinator, notifier: notifier))]
        if let scheduler { services.append(.init(service: scheduler, successTerminationBehavior: .ignore)) }
        services.append(.init(service: ShutdownAnnouncer(coordinator: coordinator, logger: logger, graceSeconds: options.request.stopGraceSeconds),
                              successTerminationBehavior: .ignore))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: gracefulShutdownSignals,
                                                                          logger: logger))
        groupReady(group)
        try await group.run()
    }

    /// Observers and figures the first page needs (once, however often it is called).
    private func prepare() async {
        guard !prepared.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let metrics = self.metrics
        await coordinator.observe { [self] attempt in
            notifier?.buildEnded(attempt)
            metrics.buildEnded(attempt, costs: await costs(of: attempt))
            await refreshFigures()
        }
        if let schedule { metrics.nextBuild(at: schedule.nextRun(after: clock.now())) }
        let builds = (try? await workspace.recentBuilds()) ?? []
        metrics.recorded(lastSuccessAt: builds.first { $0.status == .ok }?.endedAt, newestFinished: builds.first { $0.status.finished }?.status)
        await refreshFigures()
    }

    /// The store's figures behind the gauges, read after each build rather than on every scrape.
    func refreshFigures() async {
        do {
            let knowledgeBase = try await workspace.latestSnapshot()
            let statistics = try await workspace.cacheStatistics()
            storeFigures.withLock { $0 = StoreFigures(knowledgeBase: knowledgeBase, statistics: statistics, readAt: clock.now()) }
            metrics.storeFigures(documents: knowledgeBase?.documents ?? 0, statistics: statistics)
        } catch {
            logger.warning("could not read the store's figures", metadata: ["error": .string("\(error)")])
        }
        metrics.nextBuild(at: scheduler?.next?.at ?? schedule?.nextRun(after: clock.now()))
    }

    /// Dollars the attempt's executed actions spent, by processor. Only recorded events can cost anything:
    /// the run's hit list is not read.
    private func costs(of attempt: BuildAttempt) async -> [String: Double] {
        guard let run = attempt.outcome?.summary.run, let decisions = try? await workspace.runDecisions(run),
              let pipeline = try? workspace.pipeline() else { return [:] }
        var costs: [String: Double] = [:]
        for event in decisions.events where event.costUSD > 0 {
            let processor = pipeline.rule(named: event.rule)?.processor.id ?? event.rule
            costs[processor, default: 0] += event.costUSD
        }
        return costs
    }
}

extension AppError {
    /// The same error with a fix appended, as the rules' errors carry one.
    func with(fix: String) -> AppError { AppError(message + "; " + fix, status: status) }
}

extension AcervoService {
    /// Calls `observer` with every build the service runs, once it has ended.
    public func observeBuilds(_ observer: @escaping @Sendable (BuildAttempt) async -> Void) async {
        await coordinator.observe(observer)
    }

    /// `acervo serve --once`: one build as the schedule starts it, observed the same way, and nothing served.
    public func buildOnce() async -> BuildAttempt {
        await prepare()
        let attempt = await coordinator.run(.schedule)
        await notifier?.drain()
        return attempt
    }
}

extension AcervoService {
    /// Who may use the service, for the start's log line.
    var accessDescription: String {
        if access.requiresCredentials {
            return access.hasAdmin ? "tokens required (admin\(access.hasViewer ? " and viewer" : ""))" : "tokens required (viewer)"
        }
        return "loopback only, no tokens: anyone on this machine is admin"
    }

    /// The next night, in the schedule's zone, for the start's log line.
    var nextBuildDescription: String {
        guard let schedule else { return "none: pipeline.yaml has no schedule" }
        guard let next = schedule.nextRun(after: clock.now()) else { return "never (the schedule has no next time)" }
        let missed = schedule.previousRun(atOrBefore: clock.now()).map { _ in "; a night that has not run builds now" } ?? ""
        return "\(schedule.localTime(next)) (\(schedule.summary))\(missed)"
    }
}

/// The first to hear of a shutdown: says so, and stops the running build at once (no new action starts;
/// the running ones get the grace). The other services then end in order.
struct ShutdownAnnouncer: Service {
    let coordinator: BuildCoordinator
    let logger: Logger
    let graceSeconds: Double

    func run() async throws {
        try? await gracefulShutdown()
        let building = await coordinator.running != nil
        logger.notice("shutting down", metadata: ["build": .string(building
            ? "running: no new action starts; running actions have \(Int(graceSeconds)) s to commit, then are interrupted (the next start runs them)"
            : "none running")])
        coordinator.beginShutdown()
    }
}

/// Keeps the process up at shutdown until the running build (a scheduled one or one asked for) has stopped
/// starting actions and committed those that ran.
struct BuildDrain: Service {
    let coordinator: BuildCoordinator
    let notifier: Notifier?

    func run() async throws {
        try? await gracefulShutdown()
        await coordinator.stopAndWait()
        await notifier?.shutdown()
    }
}
