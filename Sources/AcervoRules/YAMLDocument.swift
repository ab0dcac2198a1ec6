import Foundation
import Yams

/// Every YAML file Acervo reads — rules, prices, taxonomy, `course.yaml`, `lesson.yaml` — goes through here,
/// with limits a hostile or broken file cannot get past: a size, a number of values once anchors and aliases
/// are expanded (a "billion laughs" of nine alias levels would otherwise take minutes and gigabytes), and a
/// nesting depth. Real files are far below all three.
public enum YAMLDocument {
    public static let maximumBytes = 1 << 20
    public static let maximumValues = 100_000
    public static let maximumDepth = 64

    /// The document's root node (nil for an empty file); a file past a limit, or not YAML, is a `RulesError`
    /// with the file and line.
    public static func compose(_ text: String, file: String) throws(RulesError) -> Node? {
        let start = SourceLocation(file: file, line: 1, column: 1)
        guard text.utf8.count <= maximumBytes else {
            throw RulesError("the file is \(text.utf8.count) bytes; Acervo reads YAML files of at most \(maximumBytes) bytes", at: start,
                             fix: "is this the right file?")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw RulesLoader.located(error, text: text, file: file)
        } catch {
            throw RulesError("not valid YAML: \(String(describing: error).shortened)", at: start)
        }
        if let root {
            var budget = maximumValues
            if let problem = check(root, depth: 0, budget: &budget) { throw RulesError(problem, at: start, fix: "write the values out instead") }
        }
        return root
    }

    /// The file decoded as `T`, within the same limits.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String, file: String) throws(RulesError) -> T {
        guard let root = try compose(text, file: file) else {
            throw RulesError("the file is empty", at: SourceLocation(file: file, line: 1, column: 1))
        }
        do { return try YAMLDecoder().decode(type, from: root) } catch {
            throw RulesError(String(describing: error).shortened, at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    /// Walks the tree as its readers will (aliases expanded), stopping as soon as a limit is passed: the walk
    /// itself never costs more than `maximumValues` steps.
    private static func check(_ node: Node, depth: Int, budget: inout Int) -> String? {
        budget -= 1
        if budget < 0 { return "the YAML expands to more than \(maximumValues) values (anchors and aliases nested in each other?)" }
        if depth > maximumDepth { return "the YAML is nested more than \(maximumDepth) levels deep" }
        switch node {
        case .scalar, .alias: return nil
        case .sequence(let sequence):
            for element in sequence { if let problem = check(element, depth: depth + 1, budget: &budget) { return problem } }
        case .mapping(let mapping):
            for (key, value) in mapping {
                if let problem = check(key, depth: depth + 1, budget: &budget) ?? check(value, depth: depth + 1, budget: &budget) { return problem }
            }
        }
        return nil
    }
}

extension String {
    /// At most 200 characters, for quoting a value or an error in a message.
    public var shortened: String { count <= 200 ? self : prefix(200) + "…" }
}
