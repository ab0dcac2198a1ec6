import Foundation

/// What the evaluator decided for one (item, rule) in one run.
public enum Decision: String, Sendable, Codable, CaseIterable {
    case hit, executed, failed, skipped
}

/// One decision of a run: the audit trail behind `acervo runs show` and `acervo why`.
public struct Event: Sendable, Codable, Equatable {
    public var runID: String
    public var itemID: String
    public var rule: String
    public var key: ActionKey?
    public var decision: Decision
    public var reason: DecisionReason
    public var durationSeconds: Double
    public var costUSD: Double
    public var error: String?
    public var at: Date
    /// What a paid action was expected to cost when it started (kept to measure the estimates).
    public var estimate: EventEstimate?

    public init(
        runID: String, itemID: String, rule: String, key: ActionKey?, decision: Decision, reason: DecisionReason,
        durationSeconds: Double = 0, costUSD: Double = 0, error: String? = nil, at: Date = Date(), estimate: EventEstimate? = nil
    ) {
        self.estimate = estimate
        self.runID = runID
        self.itemID = itemID
        self.rule = rule
        self.key = key
        self.decision = decision
        self.reason = reason
        self.durationSeconds = durationSeconds
        self.costUSD = costUSD
        self.error = error
        self.at = at
    }
}

/// A paid action's estimate as its event keeps it: the expected figure and the high end the budget reserved.
public struct EventEstimate: Sendable, Codable, Equatable {
    public var expectedUSD: Double
    public var highUSD: Double

    public init(expectedUSD: Double, highUSD: Double) {
        self.expectedUSD = expectedUSD
        self.highUSD = highUSD
    }
}

/// Money an event recorded, with the processor of its result: what `acervo cost` adds up.
public struct SpendRecord: Sendable, Equatable {
    public var runID: String
    public var itemID: String
    public var rule: String
    /// The result's processor; nil when the result was collected since (the rule still says where it went).
    public var processor: String?
    public var decision: Decision
    public var costUSD: Double
    public var estimate: EventEstimate?
    public var at: Date

    public init(runID: String, itemID: String, rule: String, processor: String?, decision: Decision, costUSD: Double,
                estimate: EventEstimate?, at: Date) {
        self.runID = runID
        self.itemID = itemID
        self.rule = rule
        self.processor = processor
        self.decision = decision
        self.costUSD = costUSD
        self.estimate = estimate
        self.at = at
    }
}

/// How a run ended (or that it has not).
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    /// Still going, or its process died before it could say (the store lock tells which).
    case running
    case ok
    /// Finished with failed actions (or a sink that could not be brought up to date).
    case failed
    /// Stopped starting paid actions at the budget.
    case budget
    /// Stopped by a signal before every action was decided.
    case interrupted
    /// Could not run at all (rules, source, store); the summary holds the error.
    case error

    /// Whether the run came to its end: neither still going (or dead before it could say) nor stopped part-way.
    public var finished: Bool { self != .running && self != .interrupted }
}

/// What a run was: a build, the sync that ends one, `kb sync`, `kb restore`, … Stored and printed as its text
/// (`build sync`); compared as a value, never as a string literal. Runs recorded by another version may hold a
/// command this one does not name: they keep it.
public struct RunCommand: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let build = RunCommand(rawValue: "build")
    /// The sync to the vector store that ends a build.
    public static let buildSync = RunCommand(rawValue: "build sync")
    public static let kbSync = RunCommand(rawValue: "kb sync")
    public static let kbRestore = RunCommand(rawValue: "kb restore")
    /// The crash-test writer's runs.
    public static let torture = RunCommand(rawValue: "torture")

    /// Runs that published a snapshot to the vector store.
    public var isSync: Bool { self == .buildSync || self == .kbSync || self == .kbRestore }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One invocation of a command that changes the store.
public struct Run: Sendable, Codable, Equatable {
    public var id: String
    public var command: RunCommand
    public var toolVersion: String
    public var startedAt: Date
    public var endedAt: Date?
    public var status: RunStatus
    /// JSON the command writes at the end (counts, cost, snapshot; or the error).
    public var summary: String?

    public init(id: String, command: RunCommand, toolVersion: String, startedAt: Date, endedAt: Date? = nil, status: RunStatus = .running,
                summary: String? = nil) {
        self.id = id
        self.command = command
        self.toolVersion = toolVersion
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
        self.summary = summary
    }

    /// A new id that sorts by start time, so `acervo runs` lists naturally.
    public static func newID(at date: Date) -> String {
        let stamp = Int64(date.timeIntervalSince1970 * 1000)
        return String(format: "r%013lld-%04x", stamp, UInt16.random(in: 0...UInt16.max))
    }

    enum CodingKeys: String, CodingKey { case id, command, toolVersion, startedAt, endedAt, status, summary }

    /// `summary` is stored as JSON text, and printed (`--json`, the API) as the object it is, never as a
    /// string of JSON inside the JSON.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(command, forKey: .command)
        try container.encode(toolVersion, forKey: .toolVersion)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encodeIfPresent(endedAt, forKey: .endedAt)
        try container.encode(status, forKey: .status)
        if let summary {
            if let object = try? JSONDecoder().decode(EmbeddedJSON.self, from: Data(summary.utf8)) {
                try container.encode(object, forKey: .summary)
            } else {
                try container.encode(summary, forKey: .summary)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        command = try container.decode(RunCommand.self, forKey: .command)
        toolVersion = try container.decode(String.self, forKey: .toolVersion)
        startedAt = try container.decode(Date.self, forKey: .startedAt)
        endedAt = try container.decodeIfPresent(Date.self, forKey: .endedAt)
        status = try container.decode(RunStatus.self, forKey: .status)
        if let text = try? container.decodeIfPresent(String.self, forKey: .summary) {
            summary = text
        } else if let object = try container.decodeIfPresent(EmbeddedJSON.self, forKey: .summary) {
            summary = String(decoding: try JSONEncoder.canonical.encode(object), as: UTF8.self)
        } else {
            summary = nil
        }
    }
}

/// Any JSON value, read and written as itself (objects, arrays, strings, whole and other numbers, booleans).
struct EmbeddedJSON: Codable, @unchecked Sendable {
    let value: Any

    init(_ value: Any) { self.value = value }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case let object as [String: Any]:
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in object { try container.encode(EmbeddedJSON(value), forKey: Key(stringValue: key)) }
        case let array as [Any]:
            var container = encoder.unkeyedContainer()
            for value in array { try container.encode(EmbeddedJSON(value)) }
        case let flag as Bool:
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case let number as Int64:
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case let number as Double:
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case let text as String:
            var container = encoder.singleValueContainer()
            try container.encode(text)
        default:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }

    init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: Key.self) {
            var object: [String: Any] = [:]
            for key in container.allKeys { object[key.stringValue] = try container.decode(EmbeddedJSON.self, forKey: key).value }
            value = object
        } else if var container = try? decoder.unkeyedContainer() {
            var array: [Any] = []
            while !container.isAtEnd { array.append(try container.decode(EmbeddedJSON.self).value) }
            value = array
        } else {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { value = NSNull() }
            else if let bool = try? container.decode(Bool.self) { value = bool }
            else if let number = try? container.decode(Int64.self) { value = number }
            else if let number = try? container.decode(Double.self) { value = number }
            else { value = try container.decode(String.self) }
        }
    }
}

/// The last key computed for (item, rule) and the components it was computed from, so `plan` and `why` can
/// say exactly what changed since.
public struct Trace: Sendable, Codable, Equatable {
    public var itemID: String
    public var rule: String
    public var key: ActionKey
    /// Engine-defined JSON (processor, version, params, input digests, file digests).
    public var components: String
    public var runID: String?
    public var updatedAt: Date

    public init(itemID: String, rule: String, key: ActionKey, components: String, runID: String?, updatedAt: Date = Date()) {
        self.itemID = itemID
        self.rule = rule
        self.key = key
        self.components = components
        self.runID = runID
        self.updatedAt = updatedAt
    }
}

/// A decision that needs no durability of its own (a cache hit, a skip, a failure): recorded in batches,
/// because losing the last few of these in a crash costs nothing, while one fsync per hit would make a
/// no-op build slow.
public struct DecisionRecord: Sendable {
    public var event: Event
    /// For hits: the reused result, whose hit count and last use advance.
    public var hitKey: ActionKey?
    public var trace: Trace?

    public init(event: Event, hitKey: ActionKey? = nil, trace: Trace? = nil) {
        self.event = event
        self.hitKey = hitKey
        self.trace = trace
    }
}

/// A run's hit list (see `HitList`), as the journal knows it: which run, when it started, which blob.
public struct HitListRecord: Sendable, Equatable {
    public var runID: String
    public var startedAt: Date
    public var digest: Digest

    public init(runID: String, startedAt: Date, digest: Digest) {
        self.runID = runID
        self.startedAt = startedAt
        self.digest = digest
    }
}
