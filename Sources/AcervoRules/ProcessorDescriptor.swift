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

    public init(id: String, version: String, inputs: [InputSlot], params: [ParamSpec] = [], isPaid: Bool = false) {
        self.id = id
        self.version = version
        self.inputs = inputs
        self.params = params
        self.isPaid = isPaid
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

    func accepts(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.string, .string), (.number, .number), (.boolean, .bool): return true
        case (.integer, .number): return value.int != nil
        case (.stringList, .array(let items)): return items.allSatisfy { $0.string != nil }
        default: return false
        }
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
