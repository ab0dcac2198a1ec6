/// Where in a rules file something was written.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public var description: String { "\(file):\(line):\(column)" }
}

/// One rule of `pipeline.yaml`, validated against its processor.
public struct RuleSpec: Sendable, Equatable {
    public var name: String
    public var processor: ProcessorDescriptor
    /// Slot → references (source artifacts such as `video`, or rule names) in order of preference: the
    /// first one present for the item is used (`transcript: [captions_text, speech]`). Usually just one.
    public var inputs: [String: [String]]
    /// The rule does not apply to an item that has any of these (an artifact, or a rule's output): a paid
    /// transcription `unless: captions` never runs for a lesson whose captions are free.
    public var unless: [String] = []
    /// Only the parameters written in the rule: defaults live in the processor, so adding a parameter with a
    /// default to a processor does not change every existing key.
    public var params: [String: JSONValue]
    /// File dependencies (prompts, taxonomy), relative to the rules folder.
    public var files: [String]
    /// At most this many of this rule's actions at once.
    public var concurrency: Int?
    public var location: SourceLocation

    /// The rules this one reads from.
    public func upstreamRules(in ruleNames: Set<String>) -> [String] {
        Set(inputs.values.flatMap { $0 } + unless).filter(ruleNames.contains).sorted()
    }
}

/// A validated pipeline: rules in dependency order and typed settings, ready for the evaluator.
public struct Pipeline: Sendable, Equatable {
    /// The rules folder; file dependencies resolve against it.
    public var directory: String
    /// Where the lessons come from: one source, or several building one knowledge base.
    public var sources: [SourceSpec]
    /// Topologically sorted: every rule comes after the rules it reads.
    public var rules: [RuleSpec]
    public var sink: SinkSettings
    public var budgetUSD: Double?
    /// When `acervo serve` builds on its own; nil: only when asked.
    public var schedule: ScheduleSettings?
    /// Who hears about builds; nil: nobody.
    public var notify: NotifySettings?
    /// `prices.yaml` of the rules folder (empty when there is none).
    public var prices = PriceTable()

    public init(directory: String, sources: [SourceSpec], rules: [RuleSpec], sink: SinkSettings, budgetUSD: Double?) {
        self.directory = directory
        self.sources = sources
        self.rules = rules
        self.sink = sink
        self.budgetUSD = budgetUSD
    }

    /// The first source's settings (a pipeline with one `source:`).
    public var source: SourceSettings { sources.first?.settings ?? .local(path: nil) }

    /// The rule whose output is each item's document in the knowledge base.
    public var documentRule: String { sink.documentRule }

    /// The project folder: the rules folder's parent, against which relative paths in the settings resolve.
    public var projectDirectory: String {
        let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory.hasPrefix("/") ? (parent.isEmpty ? "/" : parent) : (parent.isEmpty ? "." : parent)
    }

    public func rule(named name: String) -> RuleSpec? { rules.first { $0.name == name } }
}
