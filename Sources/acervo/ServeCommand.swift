import AcervoApp
import AcervoEngine
import AcervoServer
import AcervoStore
import ArgumentParser
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Build on the schedule (`schedule:` in pipeline.yaml) and serve the dashboard, the JSON API and /metrics.",
        discussion: """
            Listens on 127.0.0.1:8080 unless told otherwise. Beyond loopback every caller needs a token: set \
            ACERVO_ADMIN_TOKEN (and ACERVO_VIEWER_TOKEN for read-only access), or their _FILE variants. \
            SIGTERM or Ctrl-C: the schedule stops, a running build starts no new action and its running actions \
            commit (or, after --stop-grace, are ended and recorded as interrupted), then the process exits; the \
            interrupted night runs when the service starts again. `--once` runs one build the way the schedule would and exits with its code.
            """)

    @OptionGroup var options: StoreOptions

    @Option(name: .long, help: "HOST:PORT to listen on (port 0 picks a free one).")
    var listen = "127.0.0.1:8080"

    @Option(name: .long, help: "Processor runs at once in each build (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "At SIGTERM, seconds a running build's actions may take to finish before they are ended (interrupted).")
    var stopGrace: Double = StopFlag.defaultGraceSeconds

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Flag(name: .long, help: "Run one build now, as the schedule would, and exit with its code; serve nothing.")
    var once = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard stopGrace >= 0, stopGrace.isFinite else { throw ValidationError("--stop-grace must be a number of seconds, 0 or more") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        guard Self.address(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080") }
    }

    /// `HOST:PORT`, the host possibly in brackets (IPv6).
    static func address(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "acervo")
        let (host, port) = Self.address(listen)!
        let request = BuildRequest(jobs: jobs, retry: RetryPolicy(), stopGraceSeconds: stopGrace)
        let service = try await perform {
            try AcervoService(storePath: options.store, rulesPath: options.rules,
                              options: AcervoService.Options(host: host, port: port, request: request), logger: logger)
        }
        if once {
            let attempt = await service.buildOnce()
            if options.json { printJSON(attempt) }
            if attempt.exitStatus != .success { throw ExitCode(attempt.exitStatus) }
            return
        }
        try await perform { try await service.run() }
    }
}
