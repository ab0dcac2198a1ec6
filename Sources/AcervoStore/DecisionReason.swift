import Foundation

/// Why an action runs (or, in a plan, would run): one difference between the key components recorded at the
/// last decision for this (item, rule) and the ones computed now. Stored structured; `description` is the one
/// place it becomes words.
public enum RunReason: Sendable, Hashable {
    case newItem
    case newRule
    case inputChanged(name: String, old: Digest?, new: Digest?)
    case processorChanged(old: String, new: String)
    case processorVersion(old: String, new: String)
    /// Values are canonical JSON (`"es"`, `0.3`); nil when the parameter is not set on that side.
    case paramChanged(name: String, old: String?, new: String?)
    case fileChanged(name: String, old: Digest?, new: Digest?)
    case outputMissing
    case refreshRequested
    /// Plan only: an upstream rule runs first, so this action's inputs are not known yet.
    case upstreamRuns(rule: String)
}

/// Why a rule does not apply to an item: nothing is wrong, there is nothing to do.
public enum NotApplicableReason: Sendable, Hashable {
    /// The item has none of these inputs (a lesson without a video).
    case missingInput([String])
    /// The rule's only input comes from a rule that does not apply either.
    case upstreamNotApplicable(String)
    /// The item has this, which the rule steps aside for (`unless: captions`).
    case stepsAsideFor(String)
}

/// What a sink did, or failed to do, for one item.
public enum SinkStep: Sendable, Hashable {
    case upload(document: Digest)
    case updateAttributes
    case waitForIndexing
    case remove
    /// Already current in the named target: left alone.
    case keep(target: String)
}

/// Why the evaluator (or a sink) decided what it did for one (item, rule) of a run — the structured reason
/// behind every recorded decision. Rendered only where a person reads it (`description`).
public enum DecisionReason: Sendable, Hashable {
    /// A hit: the stored result was reused.
    case cached
    /// A hit on an action that another item of the same run executed.
    case sharedInRun(item: String)
    /// Executed, or failed while executing, because of these differences.
    case changed([RunReason])
    case dependencyFailed(rule: String)
    case dependencySkipped(rule: String)
    case notApplicable(NotApplicableReason)
    /// A stop was requested before the action started.
    case interrupted
    /// A paid action not started: the high end of its estimate would take the run past the budget.
    case budgetReached(estimateUSD: Double, limitUSD: Double)
    /// The source could not read the item (the error says why).
    case unreadableItem
    case sink(SinkStep)
    /// A reason recorded as text by a version of Acervo that did not store them structured.
    case text(String)

    /// Not a problem: the item lacks an optional kind of input.
    public var isNotApplicable: Bool {
        if case .notApplicable = self { return true }
        return false
    }

    /// The upstream rule whose failure (or skip) kept this action from running.
    public var blockingRule: String? {
        switch self {
        case .dependencyFailed(let rule), .dependencySkipped(let rule): return rule
        default: return nil
        }
    }
}

extension RunReason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .newItem: return "new item"
        case .newRule: return "new rule for this item"
        case .inputChanged(let name, let old, let new):
            return "input `\(name)` changed (\(Self.short(old)) → \(Self.short(new)))"
        case .processorChanged(let old, let new): return "processor \(old) → \(new)"
        case .processorVersion(let old, let new): return "processor version \(old) → \(new)"
        case .paramChanged(let name, let old, let new):
            return "param `\(name)` changed (\(old ?? "unset") → \(new ?? "unset"))"
        case .fileChanged(let name, let old, let new):
            return "file `\(name)` changed (\(Self.short(old)) → \(Self.short(new)))"
        case .outputMissing: return "output missing from the store"
        case .refreshRequested: return "refresh requested"
        case .upstreamRuns(let rule): return "after `\(rule)` runs (cut off if its output is unchanged)"
        }
    }

    static func short(_ digest: Digest?) -> String {
        digest.map { "sha256:" + $0.hex.prefix(12) } ?? "none"
    }
}

extension DecisionReason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .cached: return "cached"
        case .sharedInRun(let item): return "same action ran for `\(item)` in this run"
        case .changed(let reasons): return reasons.map(\.description).joined(separator: "; ")
        case .dependencyFailed(let rule): return "dependency `\(rule)` failed"
        case .dependencySkipped(let rule): return "dependency `\(rule)` was skipped"
        case .notApplicable(.missingInput(let names)):
            return "not applicable: the item has no " + names.map { "`\($0)`" }.joined(separator: " or ")
        case .notApplicable(.upstreamNotApplicable(let rule)): return "not applicable: `\(rule)` does not apply to this item"
        case .notApplicable(.stepsAsideFor(let name)): return "not applicable: the item has `\(name)`"
        case .interrupted: return "interrupted"
        case .budgetReached(let estimate, let limit):
            return String(format: "budget: up to $%.4f (its estimate's high end) would take the run past the budget of $%.2f", estimate, limit)
        case .unreadableItem: return "the source could not read this item"
        case .sink(.upload(let document)): return "upload \(RunReason.short(document))"
        case .sink(.updateAttributes): return "update attributes"
        case .sink(.waitForIndexing): return "wait for indexing"
        case .sink(.remove): return "remove: not in the snapshot"
        case .sink(.keep(let target)): return "current in \(target)"
        case .text(let text): return text
        }
    }
}

// MARK: - Stored form
//
// JSON objects with a `kind` discriminator, e.g. `{"kind":"changed","reasons":[{"kind":"input","name":"audio",
// "old":"sha256:…","new":"sha256:…"}]}`. This is what the journal stores and `--json` prints: field names are a
// compatibility promise, like the action key's.

extension RunReason: Codable {
    private enum Keys: String, CodingKey { case kind, name, old, new, rule }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "new_item": self = .newItem
        case "new_rule": self = .newRule
        case "input":
            self = .inputChanged(name: try container.decode(String.self, forKey: .name), old: try container.decodeIfPresent(Digest.self, forKey: .old),
                                 new: try container.decodeIfPresent(Digest.self, forKey: .new))
        case "processor":
            self = .processorChanged(old: try container.decode(String.self, forKey: .old), new: try container.decode(String.self, forKey: .new))
        case "processor_version":
            self = .processorVersion(old: try container.decode(String.self, forKey: .old), new: try container.decode(String.self, forKey: .new))
        case "param":
            self = .paramChanged(name: try container.decode(String.self, forKey: .name), old: try container.decodeIfPresent(String.self, forKey: .old),
                                 new: try container.decodeIfPresent(String.self, forKey: .new))
        case "file":
            self = .fileChanged(name: try container.decode(String.self, forKey: .name), old: try container.decodeIfPresent(Digest.self, forKey: .old),
                                new: try container.decodeIfPresent(Digest.self, forKey: .new))
        case "output_missing": self = .outputMissing
        case "refresh": self = .refreshRequested
        case "upstream_runs": self = .upstreamRuns(rule: try container.decode(String.self, forKey: .rule))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: "unknown run reason `\(kind)`")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .newItem: try container.encode("new_item", forKey: .kind)
        case .newRule: try container.encode("new_rule", forKey: .kind)
        case .inputChanged(let name, let old, let new):
            try container.encode("input", forKey: .kind)
            try container.encode(name, forKey: .name)
            try container.encodeIfPresent(old, forKey: .old)
            try container.encodeIfPresent(new, forKey: .new)
        case .processorChanged(let old, let new):
            try container.encode("processor", forKey: .kind)
            try container.encode(old, forKey: .old)
            try container.encode(new, forKey: .new)
        case .processorVersion(let old, let new):
            try container.encode("processor_version", forKey: .kind)
            try container.encode(old, forKey: .old)
            try container.encode(new, forKey: .new)
        case .paramChanged(let name, let old, let new):
            try container.encode("param", forKey: .kind)
            try container.encode(name, forKey: .name)
            try container.encodeIfPresent(old, forKey: .old)
            try container.encodeIfPresent(new, forKey: .new)
        case .fileChanged(let name, let old, let new):
            try container.encode("file", forKey: .kind)
            try container.encode(name, forKey: .name)
            try container.encodeIfPresent(old, forKey: .old)
            try container.encodeIfPresent(new, forKey: .new)
        case .outputMissing: try container.encode("output_missing", forKey: .kind)
        case .refreshRequested: try container.encode("refresh", forKey: .kind)
        case .upstreamRuns(let rule):
            try container.encode("upstream_runs", forKey: .kind)
            try container.encode(rule, forKey: .rule)
        }
    }
}

extension DecisionReason: Codable {
    private enum Keys: String, CodingKey {
        case kind, item, reasons, rule, missing, present, estimateUSD = "estimate_usd", limitUSD = "limit_usd", step, document, target, text
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let kind = try container.decode(String.self, forKey: .kind)
        switch kind {
        case "cached": self = .cached
        case "shared_in_run": self = .sharedInRun(item: try container.decode(String.self, forKey: .item))
        case "changed": self = .changed(try container.decode([RunReason].self, forKey: .reasons))
        case "dependency_failed": self = .dependencyFailed(rule: try container.decode(String.self, forKey: .rule))
        case "dependency_skipped": self = .dependencySkipped(rule: try container.decode(String.self, forKey: .rule))
        case "not_applicable":
            if let missing = try container.decodeIfPresent([String].self, forKey: .missing) {
                self = .notApplicable(.missingInput(missing))
            } else if let rule = try container.decodeIfPresent(String.self, forKey: .rule) {
                self = .notApplicable(.upstreamNotApplicable(rule))
            } else {
                self = .notApplicable(.stepsAsideFor(try container.decode(String.self, forKey: .present)))
            }
        case "interrupted": self = .interrupted
        case "budget":
            self = .budgetReached(estimateUSD: try container.decode(Double.self, forKey: .estimateUSD),
                                  limitUSD: try container.decode(Double.self, forKey: .limitUSD))
        case "unreadable_item": self = .unreadableItem
        case "sink":
            let step = try container.decode(String.self, forKey: .step)
            switch step {
            case "upload": self = .sink(.upload(document: try container.decode(Digest.self, forKey: .document)))
            case "update_attributes": self = .sink(.updateAttributes)
            case "wait_for_indexing": self = .sink(.waitForIndexing)
            case "remove": self = .sink(.remove)
            case "keep": self = .sink(.keep(target: try container.decode(String.self, forKey: .target)))
            default: throw DecodingError.dataCorruptedError(forKey: .step, in: container, debugDescription: "unknown sink step `\(step)`")
            }
        case "text": self = .text(try container.decode(String.self, forKey: .text))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: "unknown decision reason `\(kind)`")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .cached: try container.encode("cached", forKey: .kind)
        case .sharedInRun(let item):
            try container.encode("shared_in_run", forKey: .kind)
            try container.encode(item, forKey: .item)
        case .changed(let reasons):
            try container.encode("changed", forKey: .kind)
            try container.encode(reasons, forKey: .reasons)
        case .dependencyFailed(let rule):
            try container.encode("dependency_failed", forKey: .kind)
            try container.encode(rule, forKey: .rule)
        case .dependencySkipped(let rule):
            try container.encode("dependency_skipped", forKey: .kind)
            try container.encode(rule, forKey: .rule)
        case .notApplicable(let reason):
            try container.encode("not_applicable", forKey: .kind)
            switch reason {
            case .missingInput(let names): try container.encode(names, forKey: .missing)
            case .upstreamNotApplicable(let rule): try container.encode(rule, forKey: .rule)
            case .stepsAsideFor(let name): try container.encode(name, forKey: .present)
            }
        case .interrupted: try container.encode("interrupted", forKey: .kind)
        case .budgetReached(let estimate, let limit):
            try container.encode("budget", forKey: .kind)
            try container.encode(estimate, forKey: .estimateUSD)
            try container.encode(limit, forKey: .limitUSD)
        case .unreadableItem: try container.encode("unreadable_item", forKey: .kind)
        case .sink(let step):
            try container.encode("sink", forKey: .kind)
            switch step {
            case .upload(let document):
                try container.encode("upload", forKey: .step)
                try container.encode(document, forKey: .document)
            case .updateAttributes: try container.encode("update_attributes", forKey: .step)
            case .waitForIndexing: try container.encode("wait_for_indexing", forKey: .step)
            case .remove: try container.encode("remove", forKey: .step)
            case .keep(let target):
                try container.encode("keep", forKey: .step)
                try container.encode(target, forKey: .target)
            }
        case .text(let text):
            try container.encode("text", forKey: .kind)
            try container.encode(text, forKey: .text)
        }
    }

    /// The stored form: canonical JSON.
    public var storedJSON: String {
        // Every case encodes to plain strings and finite numbers; an infinite budget figure is clamped rather
        // than allowed to make the journal unwritable.
        if case .budgetReached(let estimate, let limit) = self, !estimate.isFinite || !limit.isFinite {
            return DecisionReason.budgetReached(estimateUSD: estimate.isFinite ? estimate : .greatestFiniteMagnitude,
                                                limitUSD: limit.isFinite ? limit : .greatestFiniteMagnitude).storedJSON
        }
        // The canonical encoder writes any other non-finite figure as a string: it cannot fail on these cases,
        // and a reason that somehow could not be encoded is still recorded, as its words.
        return (try? JSONEncoder.canonicalText(self, what: "a decision's reason")) ?? description
    }

    /// Reads the stored form; text that is not a structured reason (rows written before reasons were
    /// structured) is kept as `.text`, never lost.
    public init(stored text: String) {
        if text.hasPrefix("{"), let reason = try? JSONDecoder().decode(DecisionReason.self, from: Data(text.utf8)) {
            self = reason
        } else {
            self = .text(text)
        }
    }
}
