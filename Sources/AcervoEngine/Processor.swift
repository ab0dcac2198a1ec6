import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// A pipeline step's implementation. The engine calls it on a cache miss, with inputs already in the store.
public protocol Processor: Sendable {
    var descriptor: ProcessorDescriptor { get }
    /// The expected cost before running, from input sizes or durations; free processors cost nothing.
    func estimate(_ action: ActionInput) async throws -> CostEstimate
    /// The expected cost when the action's inputs do not exist yet (a fresh store: no audio, no frames), from
    /// the lesson's source — the video's duration, the params of the rules that will feed it. Nil when the
    /// source says nothing useful.
    func estimate(fromSource source: SourceFacts) async throws -> CostEstimate?
    /// Checks that every price the actions of a rule with `params` would be billed at is known, throwing the
    /// missing one: a build or plan is refused before it shows $0 for work that costs money. Free
    /// processors need no price.
    func checkPrices(params: [String: JSONValue]) throws
    /// Produces the output blob (a tree for several files) and reports what it cost.
    func run(_ action: ActionInput) async throws -> ProcessorOutput
}

extension Processor {
    public func estimate(_ action: ActionInput) async throws -> CostEstimate { .free }
    public func estimate(fromSource source: SourceFacts) async throws -> CostEstimate? { descriptor.isPaid ? nil : .free }
    public func checkPrices(params: [String: JSONValue]) throws {}
}

/// What a paid action should cost: a range, the figure expected within it, and what it is reckoned from
/// (`212 s of audio in 4 pieces → 3.6 billed min × $0.016/min`). The budget reserves the high end.
public struct CostEstimate: Sendable, Codable, Equatable {
    public var lowUSD: Double
    public var expectedUSD: Double
    public var highUSD: Double
    public var basis: String

    public init(lowUSD: Double, expectedUSD: Double, highUSD: Double, basis: String) {
        self.lowUSD = min(lowUSD, expectedUSD)
        self.expectedUSD = expectedUSD
        self.highUSD = max(highUSD, expectedUSD)
        self.basis = basis
    }

    /// A price known exactly (`3 unread frames × $0.0015`).
    public init(exactly usd: Double, basis: String) {
        self.init(lowUSD: usd, expectedUSD: usd, highUSD: usd, basis: basis)
    }

    public static let free = CostEstimate(exactly: 0, basis: "free")
}

/// What is known of a lesson before any of its actions ran: its source artifacts, and for each input slot of
/// the rule being estimated the rule that will feed it (its processor and params), so an OCR estimate knows
/// the frames rule's `max`.
public struct SourceFacts: Sendable {
    public var itemID: String
    public var rule: String
    public var params: [String: JSONValue]
    public var files: [String: Digest]
    /// The item's source artifacts (`video`, `captions`, `materials`, `metadata`).
    public var artifacts: [String: Digest]
    /// Slot → the rule that will produce it, when that rule has not run for this item.
    public var upstream: [String: RuleSpec]
    /// Source artifacts not fetched (a plan on a fresh catalog), with what their host says of them.
    public var unfetched: [String: UnfetchedArtifact]
    public var store: Store

    public init(itemID: String, rule: String, params: [String: JSONValue], files: [String: Digest], artifacts: [String: Digest],
                upstream: [String: RuleSpec], unfetched: [String: UnfetchedArtifact] = [:], store: Store) {
        self.unfetched = unfetched
        self.itemID = itemID
        self.rule = rule
        self.params = params
        self.files = files
        self.artifacts = artifacts
        self.upstream = upstream
        self.store = store
    }
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
///
/// People read it (the build's summary, `why`, the dashboard, notifications), so it says what is wrong with
/// what: `input` names the slot whose file is at fault and is the message's subject (`video` + `cannot be
/// read` reads "the video `clase.mp4` cannot be read": the engine adds the file's name in the course),
/// `said` is what a tool or provider answered, `fix` what to do about it.
public struct ProcessorFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var isRetryable: Bool
    public var retryAfterSeconds: Double?
    /// The input slot whose content caused the failure (`video`), when it is the input's fault.
    public var input: String?
    /// A tool's or provider's own words (`ffprobe: Invalid data found when processing input`).
    public var said: String?
    /// What to do (`replace the file with a copy that plays`).
    public var fix: String?

    public init(_ message: String, retryable: Bool = false, retryAfterSeconds: Double? = nil, input: String? = nil, said: String? = nil,
                fix: String? = nil) {
        self.message = message
        self.isRetryable = retryable
        self.retryAfterSeconds = retryAfterSeconds
        self.input = input
        self.said = said.flatMap { $0.isEmpty ? nil : $0 }
        self.fix = fix
    }

    /// `the video cannot be read: … (ffprobe: …); replace it …` — with `input`, the message's subject is the input.
    public var description: String { sentence(naming: nil) }

    /// The failure as a sentence, the input named by `name` (`the video `clase.mp4` cannot be read …`).
    public func sentence(naming name: String?) -> String {
        let subject = input.map { "the \($0)" + (name.map { " `\($0)`" } ?? "") + " " } ?? ""
        return subject + message + (said.map { " (\($0))" } ?? "") + (fix.map { "; \($0)" } ?? "")
    }
}

/// What the paid pieces of the running action cost as each is answered (`PaidPieceMemo` adds to it). When an
/// attempt fails after some pieces were paid, the money still counts: in the action's cost when a later attempt
/// succeeds, in the failure's event when none does, and against the budget either way.
public final class PieceLedger: Sendable {
    private let paid = Mutex(0.0)

    public init() {}

    public func add(_ usd: Double) { paid.withLock { $0 += usd } }

    public var paidUSD: Double { paid.withLock { $0 } }

    /// The ledger of the action running in this task, if any.
    @TaskLocal public static var current: PieceLedger?
}

/// An action that failed after paying for some of its pieces.
struct PaidFailure: Error, CustomStringConvertible {
    var underlying: any Error
    var paidUSD: Double

    var description: String { "\(underlying)" }
}
