import Foundation
import Yams

/// Reads `pipeline.yaml` from a rules folder and validates it into a `Pipeline`.
///
/// Every mistake names the file, line and column and says how to fix it; the first one found is reported.
public struct RulesLoader: Sendable {
    public var catalog: [ProcessorDescriptor]
    /// Names a rule may read besides other rules (`video`, `captions`, `materials`, `metadata`).
    public var sourceArtifacts: Set<String>

    public static let fileName = "pipeline.yaml"
    static let topLevelKeys: Set<String> = ["source", "sources", "rules", "sink", "budget_usd", "schedule", "notify"]
    static let ruleKeys: Set<String> = ["processor", "input", "inputs", "unless", "params", "files", "concurrency"]

    public init(catalog: [ProcessorDescriptor], sourceArtifacts: Set<String>) {
        self.catalog = catalog
        self.sourceArtifacts = sourceArtifacts
    }

    /// Reads `pipeline.yaml` and, when present, `prices.yaml` from a rules folder.
    public func load(directory: String) throws(RulesError) -> Pipeline {
        let path = directory + "/" + Self.fileName
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RulesError("cannot read \(path)", at: nil, fix: "pass --rules with a folder holding \(Self.fileName)")
        }
        var pipeline = try parse(text, file: path, directory: directory)
        pipeline.prices = try PriceTable.load(rulesDirectory: directory)
        return pipeline
    }

    public func parse(_ text: String, file: String, directory: String) throws(RulesError) -> Pipeline {
        guard let document = try YAMLDocument.compose(text, file: file) else {
            throw RulesError("the file is empty", at: SourceLocation(file: file, line: 1, column: 1), fix: "declare `rules:` and `sink:`")
        }
        var context = Context(file: file)
        let top = try context.mapping(document, "the top level")
        for (key, _) in top where !Self.topLevelKeys.contains(key.name) {
            throw RulesError("unknown key `\(key.name)`", at: context.location(key.node),
                             fix: didYouMean(key.name, among: Self.topLevelKeys) ?? "allowed: \(Self.topLevelKeys.sorted().joined(separator: ", "))")
        }
        let value = { (name: String) in top.first { $0.0.name == name }?.1 }

        guard let rulesNode = value("rules") else {
            throw RulesError("no `rules:`", at: context.location(document), fix: "declare at least one rule")
        }
        var rules: [RuleSpec] = []
        for (key, node) in try context.mapping(rulesNode, "`rules`") {
            if sourceArtifacts.contains(key.name) {
                throw RulesError("rule `\(key.name)` has the name of a source artifact", at: context.location(key.node),
                                 fix: "rename the rule (e.g. `\(key.name)_text`): inputs named `\(key.name)` mean the artifact")
            }
            if let first = rules.first(where: { $0.name == key.name }) {
                throw RulesError("duplicate rule `\(key.name)` (first declared at line \(first.location.line))",
                                 at: context.location(key.node), fix: "rename or remove one of them")
            }
            rules.append(try rule(named: key.name, node, nameNode: key.node, context: &context, directory: directory))
        }
        let ordered = try ordered(rules, context: context)

        let sink = try value("sink").map(context.sink) ?? SinkSettings()
        for (rule, what) in [(sink.documentRule, "document"), (sink.attributesRule, "attributes")] {
            guard let rule, !ordered.contains(where: { $0.name == rule }) else { continue }
            throw RulesError("the sink's \(what) rule `\(rule)` does not exist",
                             at: value("sink").map(context.location) ?? context.location(document),
                             fix: didYouMean(rule, among: ordered.map(\.name)) ?? "set `sink: { \(what): RULE }`")
        }
        var budget: Double?
        if let node = value("budget_usd") {
            guard let number = try context.json(node).number, number >= 0, number.isFinite else {
                throw RulesError("`budget_usd` must be a number of dollars", at: context.location(node), fix: "e.g. budget_usd: 25")
            }
            budget = number
        }
        let sources = try context.sources(single: value("source"), list: value("sources"))
        var pipeline = Pipeline(directory: directory, sources: sources, rules: ordered, sink: sink, budgetUSD: budget)
        pipeline.schedule = try value("schedule").map(context.schedule)
        pipeline.notify = try value("notify").map(context.notify)
        return pipeline
    }

    /// Points a YAML error at its line. libyaml does not report duplicate keys, Yams does but without the
    /// line of the duplicate, so that line is found in the text: the second `KEY:` at the start of a line.
    static func located(_ error: YamlError, text: String, file: String) -> RulesError {
        switch error {
        case .duplicatedKeysInMapping(let duplicates, _):
            let key = duplicates.first ?? ""
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let hits = lines.indices.filter { index in
                let trimmed = lines[index].drop { $0 == " " || $0 == "-" }
                return trimmed.hasPrefix(key + ":") || trimmed.hasPrefix("\"\(key)\":")
            }
            let first = hits.first.map { $0 + 1 } ?? 1
            let duplicate = hits.dropFirst().first.map { $0 + 1 } ?? first
            return RulesError("duplicate key `\(key)` (first declared at line \(first))",
                              at: SourceLocation(file: file, line: duplicate, column: 1), fix: "rename or remove one of them")
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return RulesError("not valid YAML: \(problem.shortened)", at: SourceLocation(file: file, line: mark.line, column: mark.column),
                              fix: "check the indentation and the brackets around this point")
        case .reader(let problem, let offset, _, _):
            // The reader's offset is in bytes; its line is what a person looks for.
            let line = offset.map { offset in text.utf8.prefix(offset).reduce(1) { $1 == 10 ? $0 + 1 : $0 } } ?? 1
            return RulesError("not valid YAML: \(problem.shortened)", at: SourceLocation(file: file, line: line, column: 1),
                              fix: "save the file as UTF-8 text without control characters")
        default:
            return RulesError("not valid YAML: \(String(describing: error).shortened)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    private func rule(named name: String, _ node: Node, nameNode: Node, context: inout Context, directory: String) throws(RulesError) -> RuleSpec {
        let fields = try context.mapping(node, "rule `\(name)`")
        for (key, _) in fields where !Self.ruleKeys.contains(key.name) {
            throw RulesError("rule `\(name)`: unknown key `\(key.name)`", at: context.location(key.node),
                             fix: didYouMean(key.name, among: Self.ruleKeys) ?? "allowed: \(Self.ruleKeys.sorted().joined(separator: ", "))")
        }
        let field = { (key: String) in fields.first { $0.0.name == key }?.1 }
        guard let processorNode = field("processor"), let reference = processorNode.string, case .scalar = processorNode else {
            throw RulesError("rule `\(name)`: no `processor`", at: context.location(node), fix: "write e.g. `processor: captions@1`")
        }
        let processor = try resolveProcessor(reference, rule: name, at: context.location(processorNode))

        /// `name` or `[first_choice, second_choice]`.
        func references(_ node: Node, _ what: String) throws(RulesError) -> [String] {
            if let reference = node.string { return [reference] }
            if case .sequence(let sequence) = node, !sequence.isEmpty {
                var names: [String] = []
                for item in sequence {
                    guard let reference = item.string else { break }
                    names.append(reference)
                }
                if names.count == sequence.count { return names }
            }
            throw RulesError("rule `\(name)`: \(what) must name an artifact or a rule, or list them in order of preference",
                             at: context.location(node), fix: "e.g. `transcript` or `[captions_text, speech]`")
        }

        var inputs: [String: [String]] = [:]
        if let single = field("input") {
            let reference = try references(single, "`input`")
            guard processor.inputs.count == 1 else {
                throw RulesError("rule `\(name)`: \(processor.id) takes several inputs", at: context.location(single),
                                 fix: "use `inputs: { \(processor.inputs.map { "\($0.name): …" }.joined(separator: ", ")) }`")
            }
            inputs[processor.inputs[0].name] = reference
        }
        var inputNodes: [String: Node] = [:]
        if let many = field("inputs") {
            for (key, value) in try context.mapping(many, "`inputs` of rule `\(name)`") {
                guard processor.inputs.contains(where: { $0.name == key.name }) else {
                    throw RulesError("rule `\(name)`: \(processor.id) has no input `\(key.name)`", at: context.location(key.node),
                                     fix: didYouMean(key.name, among: processor.inputs.map(\.name))
                                        ?? "its inputs are \(processor.inputs.map(\.name).joined(separator: ", "))")
                }
                inputs[key.name] = try references(value, "input `\(key.name)`")
                inputNodes[key.name] = value
            }
        }
        for slot in processor.inputs where slot.isRequired && inputs[slot.name] == nil {
            throw RulesError("rule `\(name)`: input `\(slot.name)` of \(processor.id) is not connected", at: context.location(node),
                             fix: "add `inputs: { \(slot.name): ARTIFACT_OR_RULE }`")
        }
        for (slot, alternatives) in inputs {
            for reference in alternatives {
                context.pendingReferences.append(
                    (rule: name, slot: slot, reference: reference, location: context.location(inputNodes[slot] ?? field("input") ?? node)))
            }
        }
        var unless: [String] = []
        if let unlessNode = field("unless") {
            unless = try references(unlessNode, "`unless`")
            for reference in unless {
                context.pendingReferences.append((rule: name, slot: "unless", reference: reference, location: context.location(unlessNode)))
            }
        }

        var params: [String: JSONValue] = [:]
        if let paramsNode = field("params") {
            for (key, value) in try context.mapping(paramsNode, "`params` of rule `\(name)`") {
                guard let spec = processor.params.first(where: { $0.name == key.name }) else {
                    throw RulesError("rule `\(name)`: \(processor.id) has no parameter `\(key.name)`", at: context.location(key.node),
                                     fix: didYouMean(key.name, among: processor.params.map(\.name))
                                        ?? "its parameters are \(processor.params.map(\.name).joined(separator: ", "))")
                }
                let json = try context.json(value)
                guard spec.type.accepts(json) else {
                    throw RulesError("rule `\(name)`: parameter `\(key.name)` must be a \(spec.type.rawValue), not \(json.canonical.shortened)",
                                     at: context.location(value),
                                     fix: spec.type.suggestion(for: json).map { "write \($0)" } ?? "write a \(spec.type.rawValue)")
                }
                params[key.name] = json
            }
        }
        for spec in processor.params where spec.isRequired && params[spec.name] == nil {
            throw RulesError("rule `\(name)`: parameter `\(spec.name)` is required by \(processor.id)", at: context.location(node),
                             fix: "add `params: { \(spec.name): … }`")
        }
        for constraint in processor.constraints {
            guard let (selector, value) = constraint.violation(params) else { continue }
            let what = constraint.when == constraint.param
                ? "\(processor.id) cannot use \(constraint.param) `\(value)`"
                : "\(processor.id) with \(constraint.when) `\(selector)` cannot use \(constraint.param) `\(value)`"
            throw RulesError("rule `\(name)`: \(what): \(constraint.reason) (\(constraint.source))",
                             at: field("params").map(context.location) ?? context.location(node),
                             fix: "set `\(constraint.param)` to one of \(constraint.allowed.joined(separator: ", "))")
        }

        var files: [String] = []
        if let filesNode = field("files") {
            guard case .sequence(let sequence) = filesNode else {
                throw RulesError("rule `\(name)`: `files` must be a list", at: context.location(filesNode), fix: "e.g. files: [prompts/analyze.md]")
            }
            for item in sequence {
                guard let file = item.string, !file.hasPrefix("/"), !file.split(separator: "/").contains("..") else {
                    throw RulesError("rule `\(name)`: a file must be a path inside the rules folder", at: context.location(item))
                }
                guard FileManager.default.fileExists(atPath: directory + "/" + file) else {
                    throw RulesError("rule `\(name)`: file `\(file)` does not exist in \(directory)", at: context.location(item),
                                     fix: "create it or correct the path")
                }
                files.append(file)
            }
        }

        var concurrency: Int?
        if let node = field("concurrency") {
            guard let value = try context.json(node).int, value >= 1 else {
                throw RulesError("rule `\(name)`: `concurrency` must be a whole number of at least 1", at: context.location(node))
            }
            concurrency = value
        }
        return RuleSpec(name: name, processor: processor, inputs: inputs, unless: unless, params: params, files: files.sorted(),
                        concurrency: concurrency, location: context.location(nameNode))
    }

    private func resolveProcessor(_ text: String, rule: String, at location: SourceLocation) throws(RulesError) -> ProcessorDescriptor {
        guard let reference = ProcessorReference(parsing: text) else {
            throw RulesError("rule `\(rule)`: processor `\(text)` needs a version", at: location, fix: "write it as NAME@MAJOR, e.g. captions@1")
        }
        let candidates = catalog.filter { $0.id == reference.id }
        guard !candidates.isEmpty else {
            throw RulesError("rule `\(rule)`: unknown processor `\(reference.id)`", at: location,
                             fix: didYouMean(reference.id, among: catalog.map(\.id)) ?? "known: \(catalog.map(\.id).sorted().joined(separator: ", "))")
        }
        guard let processor = candidates.first(where: { $0.reference == reference }) else {
            throw RulesError("rule `\(rule)`: this Acervo has no \(reference)", at: location,
                             fix: "use \(candidates.map(\.reference.description).joined(separator: " or "))")
        }
        return processor
    }

    /// Checks every reference and sorts rules so each follows the rules it reads; reports a cycle by its path.
    private func ordered(_ rules: [RuleSpec], context: Context) throws(RulesError) -> [RuleSpec] {
        let names = Set(rules.map(\.name))
        for pending in context.pendingReferences where !names.contains(pending.reference) && !sourceArtifacts.contains(pending.reference) {
            throw RulesError("rule `\(pending.rule)`: unknown input `\(pending.reference)`", at: pending.location,
                             fix: didYouMean(pending.reference, among: names.union(sourceArtifacts))
                                ?? "inputs are source artifacts (\(sourceArtifacts.sorted().joined(separator: ", "))) or rules")
        }
        let byName = Dictionary(uniqueKeysWithValues: rules.map { ($0.name, $0) })
        var state: [String: Bool] = [:]  // false: on the current path, true: done
        var order: [RuleSpec] = []
        var path: [String] = []
        func visit(_ name: String) throws(RulesError) {
            if state[name] == true { return }
            if state[name] == false {
                let cycle = path[path.firstIndex(of: name)!...] + [name]
                throw RulesError("rules form a cycle: \(cycle.joined(separator: " → "))", at: byName[name]!.location,
                                 fix: "one of these rules must stop reading the next")
            }
            state[name] = false
            path.append(name)
            for upstream in byName[name]!.upstreamRules(in: names) { try visit(upstream) }
            path.removeLast()
            state[name] = true
            order.append(byName[name]!)
        }
        for rule in rules { try visit(rule.name) }
        return order
    }
}

/// Walks YAML nodes, turning each into values or into errors that point at the node.
struct Context {
    let file: String
    var pendingReferences: [(rule: String, slot: String, reference: String, location: SourceLocation)] = []

    init(file: String) { self.file = file }

    func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    func mapping(_ node: Node, _ what: String) throws(RulesError) -> [(name: (name: String, node: Node), Node)] {
        guard case .mapping(let mapping) = node else {
            throw RulesError("\(what) must be a mapping of keys to values", at: location(node))
        }
        var pairs: [(name: (name: String, node: Node), Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw RulesError("keys in \(what) must be names", at: location(key)) }
            pairs.append(((name, key), value))
        }
        return pairs
    }

    func json(_ node: Node) throws(RulesError) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            if node.null != nil { return .null }
            if let value = node.bool { return .bool(value) }
            if let value = node.int { return .number(Double(value)) }
            if let value = node.float { return .number(value) }
            return .string(scalar.string)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try json(item)) }
            return .array(items)
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard let name = key.string else { throw RulesError("keys must be names", at: location(key)) }
                members[name] = try json(value)
            }
            return .object(members)
        case .alias:
            throw RulesError("YAML aliases are not supported in rules", at: location(node), fix: "write the value out")
        }
    }
}
