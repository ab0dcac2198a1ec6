import AcervoStore
import AcervoRules
import Foundation

/// What the support assistants do with the knowledge base, for checking it: a question answered by the
/// Responses API with the `file_search` tool over the vector store, filtered on file attributes.
public struct KnowledgeBaseQuestion: Sendable {
    public struct Answer: Sendable, Codable, Equatable {
        public struct Source: Sendable, Codable, Equatable {
            public var fileID: String
            public var itemID: String?
            public var title: String?
            public var score: Double?
        }
        public var text: String
        /// The lessons the answer cites (its `file_citation` annotations), in the order first cited.
        public var citations: [Source]
        /// Everything the search found, cited or not.
        public var sources: [Source]
        public var inputTokens: Int
        public var outputTokens: Int
        /// `file_search` calls the answer made: billed apart from the tokens.
        public var searchCalls: Int
        /// The tokens at the model's prices and the searches at theirs (`openai.responses`, `openai.file_search`
        /// in prices.yaml); nil when one is not priced there.
        public var costUSD: Double?
    }

    let api: APIClient
    let baseURL: String

    public init(api: APIClient, baseURL: String) {
        self.api = api
        self.baseURL = baseURL
    }

    /// `{type: eq, key, value}`, or several combined with `and`.
    static func filters(_ attributes: [String: String]) -> JSONValue? {
        let clauses = attributes.sorted { $0.key < $1.key }.map { key, value in
            JSONValue.object(["type": .string("eq"), "key": .string(key), "value": .string(value)])
        }
        if clauses.count > 1 { return .object(["type": .string("and"), "filters": .array(clauses)]) }
        return clauses.first
    }

    struct Response: Decodable {
        struct Output: Decodable {
            struct Result: Decodable {
                var fileID: String
                var score: Double?
                var attributes: [String: JSONValue]?
                enum CodingKeys: String, CodingKey {
                    case fileID = "file_id"
                    case score, attributes
                }
            }
            struct Content: Decodable {
                struct Annotation: Decodable {
                    var type: String
                    var fileID: String?
                    var filename: String?
                    enum CodingKeys: String, CodingKey {
                        case type, filename
                        case fileID = "file_id"
                    }
                }
                var type: String
                var text: String?
                var annotations: [Annotation]?
            }
            var type: String
            var results: [Result]?
            var content: [Content]?
        }
        struct Usage: Decodable {
            var inputTokens: Int?
            var outputTokens: Int?
            enum CodingKeys: String, CodingKey {
                case inputTokens = "input_tokens"
                case outputTokens = "output_tokens"
            }
        }
        var output: [Output]
        var usage: Usage?
    }

    /// What an answer cost at `prices`: nil when the model's tokens or the searches are not priced.
    public static func cost(of answer: Answer, model: String, prices: PriceTable) -> Double? {
        guard let input = prices.price("openai.responses", "per_million_input_tokens", model: model),
              let output = prices.price("openai.responses", "per_million_output_tokens", model: model),
              let search = prices.price("openai.file_search", "per_thousand_calls", model: nil) else { return nil }
        return Double(answer.inputTokens) * input / 1e6 + Double(answer.outputTokens) * output / 1e6 + Double(answer.searchCalls) * search / 1000
    }

    public func ask(_ question: String, vectorStore: String, model: String, filters attributes: [String: String],
                    maxResults: Int = 5) async throws(ConnectorError) -> Answer {
        var tool: [String: JSONValue] = [
            "type": .string("file_search"), "vector_store_ids": .array([.string(vectorStore)]), "max_num_results": .number(Double(maxResults)),
        ]
        if let filters = Self.filters(attributes) { tool["filters"] = filters }
        let body: JSONValue = .object([
            "model": .string(model), "input": .string(question), "tools": .array([.object(tool)]),
            "include": .array([.string("file_search_call.results")]),
        ])
        let response = try await api.json(try .json(.POST, "\(baseURL)/responses", body, timeoutSeconds: 120), as: Response.self)
        let texts = response.output.filter { $0.type == "message" }.flatMap { $0.content ?? [] }.filter { $0.type == "output_text" }
        let text = texts.compactMap(\.text).joined(separator: "\n")
        let sources = response.output.filter { $0.type == "file_search_call" }.flatMap { $0.results ?? [] }.map { result in
            Answer.Source(fileID: result.fileID, itemID: result.attributes?["item_id"]?.string, title: result.attributes?["title"]?.string,
                          score: result.score)
        }
        // A citation names a file; the search results say which lesson it is (a file cited but not among the
        // results keeps only its id and name).
        var cited: [Answer.Source] = []
        for annotation in texts.flatMap({ $0.annotations ?? [] }) where annotation.type == "file_citation" {
            guard let fileID = annotation.fileID, !cited.contains(where: { $0.fileID == fileID }) else { continue }
            cited.append(sources.first { $0.fileID == fileID } ?? Answer.Source(fileID: fileID, itemID: nil, title: annotation.filename, score: nil))
        }
        return Answer(text: text, citations: cited, sources: sources, inputTokens: response.usage?.inputTokens ?? 0,
                      outputTokens: response.usage?.outputTokens ?? 0,
                      searchCalls: response.output.filter { $0.type == "file_search_call" }.count, costUSD: nil)
    }
}
