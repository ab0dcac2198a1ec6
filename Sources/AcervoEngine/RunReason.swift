import AcervoRules
import AcervoStore
import Foundation

extension RunReason {
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
                reasons.append(.paramChanged(name: name, old: old[name]?.canonical, new: new[name]?.canonical))
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
