import Foundation
import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore

/// The CLI contract's exit codes (DESIGN.md), decided here once for every caller: the CLI exits with them,
/// the server maps them to answers.
public enum ExitStatus: Int32, Sendable, Codable {
    case success = 0
    /// Finished, but with failed actions (or a sink left behind).
    case failedActions = 1
    /// A usage or configuration error: nothing ran.
    case usage = 2
    /// Paid actions past the budget were not started.
    case budgetReached = 3
    /// Another build holds the store.
    case locked = 4
    /// Stopped by a signal (or the service shutting down) before every action ran: nothing failed, the next
    /// build does the rest.
    case interrupted = 5

    /// How a build that ran ended: as its run's status says (`RunStatus`).
    public init(_ summary: BuildSummary) {
        switch summary.status {
        case .budget: self = .budgetReached
        case .interrupted: self = .interrupted
        case .failed, .error: self = .failedActions
        case .ok, .running: self = .success
        }
    }
}

/// Why a use case could not do its work, with the message a person reads and the exit status it means.
public struct AppError: Error, CustomStringConvertible, Sendable {
    /// What kind of trouble, where someone must hear of it in its own words (a notification).
    public enum Kind: Sendable {
        case other
        /// The source's catalog shrank past `max_shrink` and was refused.
        case catalogShrank
    }

    public var message: String
    public var status: ExitStatus
    public var kind: Kind

    public init(_ message: String, status: ExitStatus, kind: Kind = .other) {
        self.message = message
        self.status = status
        self.kind = kind
    }

    public var description: String { message }

    /// Classifies any error from the layers below: mistakes in rules, configuration, arguments or the store's
    /// state are usage errors (2), a held lock is 4, a provider or source that fails while working is 1.
    public init(_ error: any Error) {
        switch error {
        case let error as AppError: self = error
        case let error as StoreError:
            if case .locked = error { self.init(error.description, status: .locked) } else { self.init(error.description, status: .usage) }
        case let error as ConnectorError:
            self.init(error.description, status: error.kind == .configuration ? .usage : .failedActions)
        case let error as RulesError: self.init(error.description, status: .usage)
        case let error as SourceError: self.init(error.description, status: .usage)
        case let error as CatalogShrank: self.init(error.description, status: .failedActions, kind: .catalogShrank)
        case let error as EngineError: self.init(error.description, status: .usage)
        case let error as PricingError: self.init(error.description, status: .usage)
        default: self.init("\(error)", status: .failedActions)
        }
    }

    static func usage(_ message: String) -> AppError { AppError(message, status: .usage) }
}

/// Runs `body`, turning whatever it throws into an `AppError`.
func classified<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw AppError(error) }
}

/// `1.5 MiB`-style sizes for people (the CLI's text, the dashboard); JSON keeps exact bytes.
public func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
