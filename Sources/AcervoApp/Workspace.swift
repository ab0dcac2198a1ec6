import AcervoConnectors
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// An Acervo at work: a store, a rules folder and an environment (keys, endpoints), and the use cases that
/// act on them — build, plan, sync, restore, status, gc, fsck and the queries. The CLI is a thin shell over
/// it and the server calls the same functions: each owns the store lock when it writes, records its run,
/// and says what its outcome means as an `ExitStatus`. Every use case throws `AppError` only (untyped in
/// the signatures: typed throws across async use cases crash Swift 6.3's optimizer).
public final class Workspace: Sendable {
    public let storePath: String
    public let rulesPath: String
    public let environment: ConnectorEnvironment
    /// Progress worth telling a person (a provider's retry, a sync's steps); never contains a secret.
    public let log: @Sendable (String) -> Void
    /// Told of every call to a provider and every retry (the service's metrics).
    public let observeCalls: @Sendable (ProviderCall) -> Void
    /// Told of the media bytes a build fetches as they arrive (a progress line's speed).
    public let mediaBytes: @Sendable (Int64) -> Void
    private let opened = Mutex<Store?>(nil)

    public init(storePath: String, rulesPath: String, environment: ConnectorEnvironment = ConnectorEnvironment(),
                log: @escaping @Sendable (String) -> Void = { _ in }, observeCalls: @escaping @Sendable (ProviderCall) -> Void = { _ in },
                mediaBytes: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.mediaBytes = mediaBytes
        self.storePath = storePath
        self.rulesPath = rulesPath
        self.environment = environment
        self.log = log
        self.observeCalls = observeCalls
    }

    /// A workspace whose keys and endpoints come from `variables` (the process environment, as a rule).
    public convenience init(storePath: String, rulesPath: String, variables: [String: String], log: @escaping @Sendable (String) -> Void,
                            observeCalls: @escaping @Sendable (ProviderCall) -> Void = { _ in }, mediaBytes: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.init(storePath: storePath, rulesPath: rulesPath, environment: ConnectorEnvironment(variables), log: log, observeCalls: observeCalls,
                  mediaBytes: mediaBytes)
    }

    /// A workspace over an already opened store (tests; a store in memory).
    public init(store: Store, rulesPath: String, environment: ConnectorEnvironment = ConnectorEnvironment(),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.storePath = store.location
        self.rulesPath = rulesPath
        self.environment = environment
        self.log = log
        observeCalls = { _ in }
        mediaBytes = { _ in }
        opened.withLock { $0 = store }
    }

    /// The store, opened (and created if needed) on first use.
    public func store() async throws -> Store {
        if let store = opened.withLock({ $0 }) { return store }
        let store = try await classified { try await Store.open(at: storePath) }
        return opened.withLock { current in
            if current == nil { current = store }
            return current!
        }
    }

    /// `pipeline.yaml` (and `prices.yaml`) of the rules folder, validated against every processor this Acervo has.
    public func pipeline() throws -> Pipeline {
        do { return try RulesLoader(catalog: ProcessorCatalog.descriptors, sourceArtifacts: Item.artifactNames).load(directory: rulesPath) } catch {
            throw AppError(error)
        }
    }

    /// Runs `body` holding the store's writer lock (waiting for it with `wait`, else failing with exit 4).
    func locked<T>(_ store: Store, purpose: String, wait: Bool, _ body: () async throws -> T) async throws -> T {
        guard let root = store.root else { return try await classified(body) }
        let lock = try await classified { try await StoreLock.acquire(storeRoot: root, purpose: purpose, wait: wait) }
        defer { withExtendedLifetime(lock) {} }
        // Holding the lock, nobody else writes: a run still `running` belongs to a process that died.
        let abandoned = try await classified { try await store.journal.closeAbandonedRuns() }
        if !abandoned.isEmpty {
            log("closed \(abandoned.count == 1 ? "run" : "runs") \(abandoned.joined(separator: ", ")) as interrupted: "
                + "\(abandoned.count == 1 ? "its process" : "their processes") ended before finishing")
        }
        return try await classified(body)
    }

    /// Provider clients for the length of `body`: keys and endpoints from the environment, retries as
    /// `ACERVO_RETRY_*` say, logged through `log`; their HTTP sessions are closed afterwards.
    func withConnectors<T>(_ body: (ConnectorContext) async throws -> T) async throws -> T {
        let context = ConnectorContext(environment: environment, retry: environment.retryPolicy, log: log, observe: observeCalls,
                                       mediaBytes: mediaBytes)
        do {
            let result = try await body(context)
            await context.shutdown()
            return result
        } catch {
            await context.shutdown()
            throw error
        }
    }

    /// Records a run around `body`, in one place for every command that changes the store: started before,
    /// finished after with the status and summary `body` reports — or with `error` and the error's words
    /// when it throws.
    func recordingRun<T>(_ command: RunCommand, in store: Store, _ body: (Run) async throws -> (value: T, status: RunStatus, summary: String?))
        async throws -> T {
        let run = try await store.startRun(command: command)
        do {
            let outcome = try await body(run)
            try await store.finishRun(run.id, status: outcome.status, summary: outcome.summary, at: Date())
            return outcome.value
        } catch {
            let summary = JSONValue.object(["error": .string("\(error)")]).canonical
            // The error that ended the run is what the caller must see; failing to record it as well would
            // only hide it, and the run stays `running`, which `status` reports.
            try? await store.finishRun(run.id, status: .error, summary: summary, at: Date())
            throw error
        }
    }
}

extension Encodable {
    /// Canonical JSON, for a run's stored summary.
    var canonicalJSON: String { String(decoding: (try? JSONEncoder.canonical.encode(self)) ?? Data("{}".utf8), as: UTF8.self) }
}

extension Workspace {
    /// The values of every secret set in the environment (the connectors' and `names`), to scrub from what
    /// people read; a `NAME_FILE` that cannot be read is an error.
    public func knownSecrets(_ names: [String] = []) throws -> [Secret] {
        // The media hosts' secrets may live in variables the pipeline names (`token: MY_VIMEO_TOKEN`). Rules that
        // do not load name none (on purpose: their error is reported where they are used, and the standard
        // names — VIMEO_TOKEN, PANDA_API_KEY among them — are scrubbed either way).
        var names = names
        for spec in (try? pipeline())?.sources ?? [] {
            if case .hotmart(let settings) = spec.settings { names += settings.secretVariables }
        }
        do { return try environment.secretValues(names) } catch { throw AppError(error) }
    }

    /// A secret from the environment, or from the file `NAME_FILE` names; nil when neither is set.
    public func secret(_ name: String) throws -> String? {
        do { return try environment.secret(name)?.value } catch { throw AppError(error) }
    }
}

extension JSONEncoder {
    /// The JSON of reports for scripts — `--json` on the CLI and the service's API print the same shapes:
    /// sorted keys, ISO 8601 dates.
    public static var report: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }
}
