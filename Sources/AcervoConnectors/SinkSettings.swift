import AcervoRules
import Foundation

/// The `sink:` section of pipeline.yaml when the knowledge base goes to OpenAI:
///
///     sink:
///       kind: openai
///       document: document
///       attributes: class
///       vector_store: support-kb          # a name (created if missing) or a vs_… id
///       chunking: { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 }
public struct OpenAISinkSettings: Sendable, Equatable {
    public var vectorStore: String?
    public var chunking: ChunkingStrategy

    /// nil when the sink is not OpenAI's (a local knowledge base).
    public init?(sink: [String: JSONValue]) throws(ConnectorError) {
        guard sink["kind"]?.string == "openai" else { return nil }
        vectorStore = sink["vector_store"]?.string
        chunking = ChunkingStrategy()
        if let value = sink["chunking"] {
            guard let object = value.object else { throw Self.problem("`sink.chunking` must be a mapping") }
            for key in object.keys where !["max_chunk_size_tokens", "chunk_overlap_tokens"].contains(key) {
                throw Self.problem("`sink.chunking` has no setting `\(key)` (max_chunk_size_tokens, chunk_overlap_tokens)")
            }
            if let size = object["max_chunk_size_tokens"] {
                guard let number = size.number, number == number.rounded() else { throw Self.problem("`max_chunk_size_tokens` must be a whole number") }
                chunking.maxChunkSizeTokens = Int(number)
            }
            if let overlap = object["chunk_overlap_tokens"] {
                guard let number = overlap.number, number == number.rounded() else { throw Self.problem("`chunk_overlap_tokens` must be a whole number") }
                chunking.chunkOverlapTokens = Int(number)
            }
        }
        // OpenAI's own limits, checked before any upload.
        guard (100...4096).contains(chunking.maxChunkSizeTokens) else {
            throw Self.problem("`max_chunk_size_tokens` must be between 100 and 4096 (got \(chunking.maxChunkSizeTokens))")
        }
        guard chunking.chunkOverlapTokens >= 0, chunking.chunkOverlapTokens <= chunking.maxChunkSizeTokens / 2 else {
            throw Self.problem("`chunk_overlap_tokens` must be between 0 and half of max_chunk_size_tokens (got \(chunking.chunkOverlapTokens))")
        }
    }

    private static func problem(_ message: String) -> ConnectorError {
        ConnectorError(.configuration, provider: "pipeline.yaml", request: "", message: message)
    }
}
