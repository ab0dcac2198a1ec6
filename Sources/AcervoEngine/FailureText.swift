import AcervoRules
import Foundation

/// An action's failure as people read it, written once where the engine records it: on one line, naming the
/// file at fault by its name in the course (never the store's path), with what the tool or provider said and
/// what to do. `acervo build`, `why`, the dashboard and notifications all show this same text.
enum ActionFailureText {
    static func describe(_ error: any Error, rule: RuleSpec, item: Item) -> String {
        let underlying = (error as? PaidFailure)?.underlying ?? error
        guard let failure = underlying as? ProcessorFailure else { return oneLine("\(underlying)") }
        let artifact = failure.input.flatMap { slot in rule.inputs[slot]?.first { item.artifacts[$0] != nil } }
        return oneLine(failure.sentence(naming: artifact.flatMap { item.sourceNames[$0] }))
    }

    /// Line breaks and runs of blanks folded: a message is one line in a table, a log and a notification.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isNewline || $0 == "\t" }).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }
}
