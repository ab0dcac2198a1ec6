/// What a processor accepts, so rules can be checked before anything runs. Defined here, not in the engine,
/// so validating rules needs only values: the engine hands the loader its catalog.
public struct ProcessorDescriptor: Sendable, Equatable {
    /// `ffmpeg.audio`, `google.stt`, …
    public var id: String
    /// The implementation version, e.g. `1.2`. It enters every action key: bump it when outputs change.
    /// Rules name only the major part (`ffmpeg.audio@1`).
    public var version: String
    public var inputs: [InputSlot]
    public var params: [ParamSpec]
    /// Paid processors are estimated before they run and count against the budget.
    public var isPaid: Bool
    /// Combinations of parameters the provider documents as unsupported: refused when the rules load, not
    /// after a night of failed requests.
    public var constraints: [ParamConstraint]

    public init(id: String, version: String, inputs: [InputSlot], params: [ParamSpec] = [], isPaid: Bool = false,
                constraints: [ParamConstraint] = []) {
        self.id = id
        self.version = version
        self.inputs = inputs
        self.params = params
        self.isPaid = isPaid
        self.constraints = constraints
    }

    public var major: Int { Int(version.split(separator: ".").first ?? "") ?? 0 }

    /// How rules name it: `id@major`.
    public var reference: ProcessorReference { ProcessorReference(id: id, major: major) }

    /// How results and traces record it: `id@version`.
    public var versioned: String { "\(id)@\(version)" }
}

/// A processor as rules name it — `captions@1`, an id and a major version — parsed and printed here only.
public struct ProcessorReference: Hashable, Sendable, CustomStringConvertible {
    public var id: String
    public var major: Int

    public init(id: String, major: Int) {
        self.id = id
        self.major = major
    }

    /// `id@major`; nil without a whole-number major after the `@`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, let major = Int(parts[1]), major >= 0 else { return nil }
        self.init(id: parts[0], major: major)
    }

    public var description: String { "\(id)@\(major)" }
}

/// A named input of a processor; a rule maps each slot to a source artifact or another rule.
public struct InputSlot: Sendable, Equatable {
    public var name: String
    /// A missing required input makes the action not applicable to that item; an optional one is simply absent.
    public var isRequired: Bool

    public init(_ name: String, required: Bool = true) {
        self.name = name
        self.isRequired = required
    }
}

public enum ParamType: String, Sendable, Equatable {
    case string, integer, number, boolean, stringList = "list of strings"
    /// What a provider takes as languages (`[es-ES, pt-BR]`): a name like `spanish` fails every request.
    case languageTags = "list of BCP-47 language codes"

    func accepts(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.string, .string), (.number, .number), (.boolean, .bool): return true
        case (.integer, .number): return value.int != nil
        case (.stringList, .array(let items)): return items.allSatisfy { $0.string != nil }
        case (.languageTags, .array(let items)): return items.allSatisfy { $0.string.map(LanguageTag.isWellFormed) ?? false }
        default: return false
        }
    }

    /// How to write `value` so that it is accepted, when that can be said (`[es, pt-BR]` for `[spanish, pt_br]`).
    func suggestion(for value: JSONValue) -> String? {
        guard self == .languageTags, let items = value.array?.compactMap(\.string), !items.isEmpty else { return nil }
        return "[" + items.map(LanguageTag.normalized).joined(separator: ", ") + "]"
    }
}

public struct ParamSpec: Sendable, Equatable {
    public var name: String
    public var type: ParamType
    public var isRequired: Bool

    public init(_ name: String, _ type: ParamType, required: Bool = false) {
        self.name = name
        self.type = type
        self.isRequired = required
    }
}

/// "When `model` is `chirp_2`, `location` must be one of …": a provider's documented limit on a combination of
/// parameters, with where and when it was read, checked against a rule's parameters (defaults included).
public struct ParamConstraint: Sendable, Equatable {
    /// The parameter whose value selects the limit, its default, and the values it applies to.
    public var when: String
    public var whenDefault: String
    public var whenValues: Set<String>
    /// The parameter that is limited, its default, and the values allowed.
    public var param: String
    public var paramDefault: String
    public var allowed: [String]
    /// What the provider says, and where (a URL and the date it was read).
    public var reason: String
    public var source: String

    public init(when: String, default whenDefault: String, in whenValues: Set<String>, param: String, default paramDefault: String,
                allowed: [String], reason: String, source: String) {
        self.when = when
        self.whenDefault = whenDefault
        self.whenValues = whenValues
        self.param = param
        self.paramDefault = paramDefault
        self.allowed = allowed
        self.reason = reason
        self.source = source
    }

    /// The value of `param` for these parameters when it breaks the limit; nil when they are fine.
    public func violation(_ params: [String: JSONValue]) -> (selector: String, value: String)? {
        let selector = params[when]?.string ?? whenDefault
        guard whenValues.contains(selector) else { return nil }
        let value = params[param]?.string ?? paramDefault
        return allowed.contains(value) ? nil : (selector, value)
    }
}
