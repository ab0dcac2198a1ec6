import AcervoRules
import AcervoStore

/// Why an action runs (or, in a plan, would run): the difference between the key components recorded at the
/// last successful decision for this (item, rule) and the ones computed now.
public enum RunReason: Sendable, Equatable, CustomStringConvertible {
    case newItem
    case newRule
    case inputChanged(name: String, old: Digest?, new: Digest?)
    case processorChanged(old: String, new: String)
    case processorVersion(old: String, new: String)
    case paramChanged(name: String, old: JSONValue?, new: JSONValue?)
    case fileChanged(name: String, old: Digest?, new: Digest?)
    case outputMissing
    case refreshRequested
    /// Plan only: an upstream rule runs first, so this action's inputs are not known yet.
    case upstreamRuns(rule: String)

    public var description: String {
        switch self {
        case .newItem: return "new item"
        case .newRule: return "new rule for this item"
        case .inputChanged(let name, let old, let new):
            return "input `\(name)` changed (\(Self.short(old)) → \(Self.short(new)))"
        case .processorChanged(let old, let new): return "processor \(old) → \(new)"
        case .processorVersion(let old, let new): return "processor version \(old) → \(new)"
        case .paramChanged(let name, let old, let new):
            return "param `\(name)` changed (\(old?.canonical ?? "unset") → \(new?.canonical ?? "unset"))"
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

    /// Every difference between what the key was computed from last time and now.
    static func explain(previous: KeyComponents?, current: KeyComponents, itemIsKnown: Bool) -> [RunReason] {
        guard let previous else { return [itemIsKnown ? .newRule : .newItem] }
        var reasons: [RunReason] = []
        if previous.processor != current.processor {
            reasons.append(.processorChanged(old: previous.processor, new: current.processor))
        } else if previous.version != current.version {
            reasons.append(.processorVersion(old: previous.version, new: current.version))
        }
        if previous.params != current.params {
            let old = Self.params(previous.params), new = Self.params(current.params)
            for name in Set(old.keys).union(new.keys).sorted() where old[name] != new[name] {
                reasons.append(.paramChanged(name: name, old: old[name], new: new[name]))
            }
        }
        for name in Set(previous.inputs.keys).union(current.inputs.keys).sorted() where previous.inputs[name] != current.inputs[name] {
            reasons.append(.inputChanged(name: name, old: previous.inputs[name], new: current.inputs[name]))
        }
        for name in Set(previous.files.keys).union(current.files.keys).sorted() where previous.files[name] != current.files[name] {
            reasons.append(.fileChanged(name: name, old: previous.files[name], new: current.files[name]))
        }
        return reasons.isEmpty ? [.outputMissing] : reasons
    }

    private static func params(_ canonical: String) -> [String: JSONValue] {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(canonical.utf8)))?.object ?? [:]
    }
}

import Foundation
