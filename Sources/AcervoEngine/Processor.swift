import AcervoRules
import AcervoStore
import Foundation

/// A pipeline step's implementation. The engine calls it on a cache miss, with inputs already in the store.
public protocol Processor: Sendable {
    var descriptor: ProcessorDescriptor { get }
    /// The expected cost before running, from input sizes or durations; free processors return 0.
    func estimateCostUSD(_ action: ActionInput) async throws -> Double
    /// Checks that every price the actions of a rule with `params` would be billed at is known, throwing the
    /// missing one: a build or plan is refused before it shows $0 for work that costs money. Free
    /// processors need no price.
    func checkPrices(params: [String: JSONValue]) throws
    /// Produces the output blob (a tree for several files) and reports what it cost.
    func run(_ action: ActionInput) async throws -> ProcessorOutput
}

extension Processor {
    public func estimateCostUSD(_ action: ActionInput) async throws -> Double { 0 }
    public func checkPrices(params: [String: JSONValue]) throws {}
}

/// What a processor is given: digests of its inputs and files, its parameters, the store to read and write.
public struct ActionInput: Sendable {
    public var itemID: String
    public var rule: String
    public var inputs: [String: Digest]
    public var params: [String: JSONValue]
    public var files: [String: Digest]
    public var store: Store

    public init(itemID: String, rule: String, inputs: [String: Digest], params: [String: JSONValue], files: [String: Digest], store: Store) {
        self.itemID = itemID
        self.rule = rule
        self.inputs = inputs
        self.params = params
        self.files = files
        self.store = store
    }
}

/// What a processor produced and what it cost, from the provider's own usage figures.
public struct ProcessorOutput: Sendable {
    public var output: Digest
    public var costUSD: Double
    public var usage: [String: Double]
    public var provider: String?
    public var model: String?
    /// What the processor had to leave out, each saying where (`line 12: a cue without a timing line was
    /// skipped`): recorded with the result and shown by the build summary, `why` and `trace`.
    public var warnings: [String]
    /// Facts about the input worth keeping with the result (`encoding: windows-1252`).
    public var metadata: [String: String]

    public init(output: Digest, costUSD: Double = 0, usage: [String: Double] = [:], provider: String? = nil, model: String? = nil,
                warnings: [String] = [], metadata: [String: String] = [:]) {
        self.output = output
        self.costUSD = costUSD
        self.usage = usage
        self.provider = provider
        self.model = model
        self.warnings = warnings
        self.metadata = metadata
    }
}

/// A processor's failure. Retryable ones (rate limits, 5xx, timeouts) are retried with backoff, honouring
/// `retryAfterSeconds` when the provider said how long to wait.
public struct ProcessorFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var isRetryable: Bool
    public var retryAfterSeconds: Double?

    public init(_ message: String, retryable: Bool = false, retryAfterSeconds: Double? = nil) {
        self.message = message
        self.isRetryable = retryable
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }
}
