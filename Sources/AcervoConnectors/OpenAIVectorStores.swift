import AcervoStore
import AcervoRules
import Foundation

/// A file in a vector store, as `GET /vector_stores/{id}/files` lists it.
public struct VectorStoreFile: Sendable, Codable, Equatable {
    public struct LastError: Sendable, Codable, Equatable {
        public var code: String?
        public var message: String?
    }
    public var id: String
    public var status: String
    public var attributes: [String: JSONValue]?
    public var lastError: LastError?
    public var usageBytes: Int?

    enum CodingKeys: String, CodingKey {
        case id, status, attributes
        case lastError = "last_error"
        case usageBytes = "usage_bytes"
    }

    /// Attribute values as strings (numbers and booleans in their JSON spelling).
    public var stringAttributes: [String: String] {
        (attributes ?? [:]).compactMapValues { $0.string ?? ($0 == .null ? nil : $0.canonical) }
    }
}

public struct VectorStore: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
}

/// A file in the Files API.
public struct OpenAIFile: Sendable, Codable, Equatable {
    public var id: String
    public var filename: String?
    public var bytes: Int?
    public var purpose: String?
}

extension Chunking {
    /// The request's `chunking_strategy` object.
    var json: JSONValue {
        .object(["type": .string("static"), "static": .object([
            "max_chunk_size_tokens": .number(Double(maxChunkSizeTokens)),
            "chunk_overlap_tokens": .number(Double(chunkOverlapTokens)),
        ])])
    }

    /// Stored as a file attribute, so a changed strategy re-uploads files chunked the old way.
    public var label: String { "static/\(maxChunkSizeTokens)/\(chunkOverlapTokens)" }
}

/// OpenAI's Files and Vector Stores APIs — the calls a sync needs, nothing more.
public struct OpenAIVectorStores: Sendable {
    public let api: APIClient
    public let baseURL: String

    public static let provider = "OpenAI"
    public static let defaultBaseURL = "https://api.openai.com/v1"

    public init(api: APIClient, baseURL: String) {
        self.api = api
        self.baseURL = baseURL
    }

    /// A client from the environment: `OPENAI_API_KEY` (or `_FILE`), `OPENAI_BASE_URL`.
    public static func fromEnvironment(_ environment: ConnectorEnvironment, session: HTTPSession,
                                       retry: RetryPolicy = RetryPolicy(maxAttempts: 5),
                                       log: @escaping @Sendable (String) -> Void = { _ in }) throws(ConnectorError) -> OpenAIVectorStores {
        let key = try environment.requiredSecret("OPENAI_API_KEY", for: provider)
        let api = APIClient(provider: provider, session: session, retry: retry, secrets: [key], log: log) { _ throws(ConnectorError) in
            [("Authorization", "Bearer \(key.value)")]
        }
        return OpenAIVectorStores(api: api, baseURL: environment.baseURL("OPENAI_BASE_URL", default: defaultBaseURL))
    }

    struct Page<Element: Decodable>: Decodable {
        var data: [Element]
        var hasMore: Bool?
        var lastID: String?
        enum CodingKeys: String, CodingKey {
            case data
            case hasMore = "has_more"
            case lastID = "last_id"
        }
    }

    /// Every element of a cursor-paginated list (`limit`, `after`).
    private func all<Element: Decodable & Sendable>(_ path: String, query: String = "", id: (Element) -> String) async throws(ConnectorError) -> [Element] {
        var elements: [Element] = []
        var after: String?
        repeat {
            var url = "\(baseURL)\(path)?limit=100\(query)"
            if let after { url += "&after=\(after.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? after)" }
            let page = try await api.json(APIRequest(.GET, url), as: Page<Element>.self)
            elements += page.data
            let last = page.lastID ?? page.data.last.map(id)
            after = (page.hasMore ?? false) && last != nil && last != after ? last : nil
        } while after != nil
        return elements
    }

    public func vectorStores() async throws(ConnectorError) -> [VectorStore] {
        try await all("/vector_stores") { $0.id }
    }

    /// Creates a vector store. A create whose answer is lost may still have happened, so instead of blindly
    /// retrying (two stores with one name), each failed attempt is followed by a listing that adopts the store
    /// if it exists.
    public func createVectorStore(name: String) async throws(ConnectorError) -> VectorStore {
        let body: JSONValue = .object(["name": .string(name), "metadata": .object(["created_by": .string("acervo")])])
        var once = api
        once.retry.maxAttempts = 1
        var attempt = 1
        while true {
            do throws(ConnectorError) {
                return try await once.json(try .json(.POST, "\(baseURL)/vector_stores", body))
            } catch {
                guard error.kind == .unavailable || error.kind == .badResponse, attempt < api.retry.maxAttempts else { throw error }
                if let created = try await vectorStores().first(where: { $0.name == name }) { return created }
                guard try await api.waitToRetry(after: attempt, "POST /vector_stores", because: error.message) else { throw error }
                attempt += 1
            }
        }
    }

    /// `vs_…` is taken as an id; anything else as a name, created when no store has it.
    public func resolveVectorStore(_ nameOrID: String) async throws(ConnectorError) -> VectorStore {
        let stores = try await vectorStores()
        if let store = stores.first(where: { $0.id == nameOrID }) { return store }
        if nameOrID.hasPrefix("vs_") {
            throw ConnectorError(.configuration, provider: Self.provider, request: "GET /vector_stores",
                                 message: "there is no vector store `\(nameOrID)` in this account")
        }
        let named = stores.filter { $0.name == nameOrID }
        if named.count > 1 {
            throw ConnectorError(.configuration, provider: Self.provider, request: "GET /vector_stores",
                                 message: "\(named.count) vector stores are named `\(nameOrID)`; give the id (\(named.map(\.id).joined(separator: ", ")))")
        }
        if let store = named.first { return store }
        return try await createVectorStore(name: nameOrID)
    }

    public func files(in vectorStore: String) async throws(ConnectorError) -> [VectorStoreFile] {
        try await all("/vector_stores/\(vectorStore)/files") { $0.id }
    }

    public func file(_ fileID: String, in vectorStore: String) async throws(ConnectorError) -> VectorStoreFile {
        try await api.json(APIRequest(.GET, "\(baseURL)/vector_stores/\(vectorStore)/files/\(fileID)"))
    }

    /// Uploaded files with purpose `assistants`.
    public func uploadedFiles() async throws(ConnectorError) -> [OpenAIFile] {
        try await all("/files", query: "&purpose=assistants") { $0.id }
    }

    public func upload(filename: String, contentType: String = "text/markdown", _ content: [UInt8]) async throws(ConnectorError) -> OpenAIFile {
        var form = MultipartForm()
        form.add(field: "purpose", "assistants")
        form.add(file: "file", filename: filename, contentType: contentType, content)
        return try await api.json(APIRequest(.POST, "\(baseURL)/files", headers: [("Content-Type", form.contentType)], body: form.body,
                                             timeoutSeconds: 300))
    }

    /// Adds an uploaded file to a vector store; OpenAI then chunks and embeds it (`in_progress` → `completed`).
    public func attach(_ fileID: String, to vectorStore: String, attributes: [String: String],
                       chunking: Chunking) async throws(ConnectorError) -> VectorStoreFile {
        let body: JSONValue = .object([
            "file_id": .string(fileID),
            "attributes": .object(attributes.mapValues(JSONValue.string)),
            "chunking_strategy": chunking.json,
        ])
        return try await api.json(try .json(.POST, "\(baseURL)/vector_stores/\(vectorStore)/files", body))
    }

    /// Replaces a vector-store file's attributes (no re-embedding).
    public func update(_ fileID: String, in vectorStore: String, attributes: [String: String]) async throws(ConnectorError) -> VectorStoreFile {
        let body: JSONValue = .object(["attributes": .object(attributes.mapValues(JSONValue.string))])
        return try await api.json(try .json(.POST, "\(baseURL)/vector_stores/\(vectorStore)/files/\(fileID)", body))
    }

    /// Removes a file from a vector store; one already gone counts as removed.
    public func detach(_ fileID: String, from vectorStore: String) async throws(ConnectorError) {
        try await deleteIgnoringMissing("\(baseURL)/vector_stores/\(vectorStore)/files/\(fileID)")
    }

    /// Deletes an uploaded file; one already gone counts as deleted.
    public func delete(file fileID: String) async throws(ConnectorError) {
        try await deleteIgnoringMissing("\(baseURL)/files/\(fileID)")
    }

    private func deleteIgnoringMissing(_ url: String) async throws(ConnectorError) {
        do throws(ConnectorError) {
            _ = try await api.send(APIRequest(.DELETE, url))
        } catch {
            // A retried DELETE whose first attempt succeeded, or a file removed by hand.
            guard error.kind == .rejected, error.status == 404 else { throw error }
        }
    }
}
