import Yams

/// Where the knowledge base goes (`sink:`), and which rules make it.
public struct SinkSettings: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The knowledge base stays in the store (`acervo kb`, `acervo search`).
        case local
        case openai(OpenAISinkSettings)
    }
    public var kind: Kind
    /// The rule whose output is each item's document.
    public var documentRule: String
    /// The rule whose output (a flat JSON object) adds attributes to each document, if any.
    public var attributesRule: String?

    public init(kind: Kind = .local, documentRule: String = "document", attributesRule: String? = nil) {
        self.kind = kind
        self.documentRule = documentRule
        self.attributesRule = attributesRule
    }

    public var openAI: OpenAISinkSettings? {
        if case .openai(let settings) = kind { return settings }
        return nil
    }

    static let kinds = ["local", "openai"]
}

/// An OpenAI vector store as the sink.
public struct OpenAISinkSettings: Sendable, Equatable {
    /// A name (created when missing) or a `vs_…` id.
    public var vectorStore: String?
    public var chunking: Chunking

    public init(vectorStore: String? = nil, chunking: Chunking = Chunking()) {
        self.vectorStore = vectorStore
        self.chunking = chunking
    }
}

/// How OpenAI cuts documents into chunks before embedding them (a static strategy, within OpenAI's limits:
/// 100–4096 tokens a chunk, an overlap of at most half of that).
public struct Chunking: Sendable, Equatable, Codable {
    public var maxChunkSizeTokens: Int
    public var chunkOverlapTokens: Int

    public init(maxChunkSizeTokens: Int = 800, chunkOverlapTokens: Int = 400) {
        self.maxChunkSizeTokens = maxChunkSizeTokens
        self.chunkOverlapTokens = chunkOverlapTokens
    }
}

/// Reads the typed settings from their YAML nodes, each mistake pointing at its node.
extension Context {
    /// The keys of a settings mapping, each checked against `allowed` (with a suggestion for a typo).
    func settings(_ node: Node, _ what: String, allowed: [String]) throws(RulesError) -> [String: (key: Node, value: Node)] {
        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in try mapping(node, what) {
            guard allowed.contains(key.name) else {
                throw RulesError("\(what): unknown setting `\(key.name)`", at: location(key.node),
                                 fix: didYouMean(key.name, among: allowed) ?? "allowed: \(allowed.joined(separator: ", "))")
            }
            fields[key.name] = (key.node, value)
        }
        return fields
    }

    func string(_ field: (key: Node, value: Node)?, _ what: String) throws(RulesError) -> String? {
        guard let field else { return nil }
        guard case .scalar = field.value, let text = try json(field.value).string, !text.isEmpty else {
            throw RulesError("`\(what)` must be a text", at: location(field.value), fix: "e.g. `\(what): NAME`")
        }
        return text
    }

    func number(_ field: (key: Node, value: Node)?, _ what: String, in range: ClosedRange<Double>) throws(RulesError) -> Double? {
        guard let field else { return nil }
        guard let number = try json(field.value).number, range.contains(number) else {
            throw RulesError("`\(what)` must be a number from \(JSONValue.canonicalNumber(range.lowerBound)) to \(JSONValue.canonicalNumber(range.upperBound))",
                             at: location(field.value))
        }
        return number
    }

    func wholeNumber(_ field: (key: Node, value: Node)?, _ what: String) throws(RulesError) -> Int? {
        guard let field else { return nil }
        guard let number = try json(field.value).int else {
            throw RulesError("`\(what)` must be a whole number", at: location(field.value))
        }
        return number
    }

    func kind(_ fields: [String: (key: Node, value: Node)], _ what: String, among kinds: [String], default fallback: String) throws(RulesError) -> String {
        guard let kind = try string(fields["kind"], "\(what).kind") else { return fallback }
        guard kinds.contains(kind) else {
            throw RulesError("unknown \(what) kind `\(kind)`", at: location(fields["kind"]!.value),
                             fix: didYouMean(kind, among: kinds) ?? "this Acervo knows \(kinds.map { "`\($0)`" }.joined(separator: " and "))")
        }
        return kind
    }

    func sink(_ node: Node) throws(RulesError) -> SinkSettings {
        let fields = try settings(node, "`sink`", allowed: ["kind", "document", "attributes", "vector_store", "chunking"])
        let kind = try self.kind(fields, "sink", among: SinkSettings.kinds, default: "local")
        var sink = SinkSettings(documentRule: try string(fields["document"], "document") ?? "document",
                                attributesRule: try string(fields["attributes"], "attributes"))
        guard kind == "openai" else {
            for key in ["vector_store", "chunking"] {
                if let field = fields[key] {
                    throw RulesError("`sink.\(key)` applies to `kind: openai` sinks", at: location(field.key), fix: "remove it, or set `kind: openai`")
                }
            }
            return sink
        }
        var openAI = OpenAISinkSettings(vectorStore: try string(fields["vector_store"], "vector_store"))
        if let chunking = fields["chunking"]?.value {
            let chunkingFields = try settings(chunking, "`sink.chunking`", allowed: ["max_chunk_size_tokens", "chunk_overlap_tokens"])
            let size = try wholeNumber(chunkingFields["max_chunk_size_tokens"], "max_chunk_size_tokens") ?? openAI.chunking.maxChunkSizeTokens
            guard (100...4096).contains(size) else {
                throw RulesError("`max_chunk_size_tokens` must be between 100 and 4096 (OpenAI's limits), not \(size)",
                                 at: location(chunkingFields["max_chunk_size_tokens"]!.value))
            }
            let overlap = try wholeNumber(chunkingFields["chunk_overlap_tokens"], "chunk_overlap_tokens") ?? min(openAI.chunking.chunkOverlapTokens, size / 2)
            guard overlap >= 0, overlap <= size / 2 else {
                throw RulesError("`chunk_overlap_tokens` must be between 0 and half of max_chunk_size_tokens (\(size / 2)), not \(overlap)",
                                 at: location(chunkingFields["chunk_overlap_tokens"]?.value ?? chunking))
            }
            openAI.chunking = Chunking(maxChunkSizeTokens: size, chunkOverlapTokens: overlap)
        }
        sink.kind = .openai(openAI)
        return sink
    }
}
