import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore

/// How a snapshot is published on request (`kb sync`, `kb restore`).
public struct SyncRequest: Sendable {
    /// `latest`, a snapshot ref, a run id or a digest prefix.
    public var snapshot: String
    /// A name (created when missing) or a `vs_…` id; default: the sink's `vector_store`.
    public var vectorStore: String?
    public var wait: Bool

    public init(snapshot: String = "latest", vectorStore: String? = nil, wait: Bool = false) {
        self.snapshot = snapshot
        self.vectorStore = vectorStore
        self.wait = wait
    }
}

/// A question as the support assistants would ask it (Responses API, `file_search` over the vector store).
public struct Question: Sendable {
    public var text: String
    public var model: String
    /// Attribute filters (`school`, `topic`, …), all of which must match.
    public var filters: [String: String]
    public var vectorStore: String?

    public init(_ text: String, model: String = "gpt-4.1-mini", filters: [String: String] = [:], vectorStore: String? = nil) {
        self.text = text
        self.model = model
        self.filters = filters
        self.vectorStore = vectorStore
    }
}

extension Workspace {
    /// Makes the vector store hold exactly a snapshot's documents (`kb sync`).
    public func sync(_ request: SyncRequest) async throws -> SyncReport {
        try await publish(request, command: .kbSync)
    }

    /// Makes the vector store match an older snapshot, from stored documents only (`kb restore`): nothing is
    /// transcribed or analysed again.
    public func restore(_ request: SyncRequest) async throws -> SyncReport {
        try await publish(request, command: .kbRestore)
    }

    private func publish(_ request: SyncRequest, command: RunCommand) async throws -> SyncReport {
        let pipeline = try pipeline()
        let store = try await store()
        return try await locked(store, purpose: "acervo \(command)", wait: request.wait) {
            let snapshot = try await KnowledgeBase(store: store).resolve(request.snapshot)
            return try await withConnectors { connectors in
                let sink = try Registry.sink(pipeline.sink, vectorStore: request.vectorStore, forceOpenAI: true, connectors: connectors)!
                return try await publish(snapshot, to: sink, command: command, store: store)
            }
        }
    }

    /// Asks the vector store a question the way a support assistant does.
    public func ask(_ question: Question) async throws -> KnowledgeBaseQuestion.Answer {
        let pipeline = try pipeline()
        return try await classified {
            guard let target = question.vectorStore ?? pipeline.sink.openAI?.vectorStore else {
                throw AppError.usage("pass --vector-store NAME or set sink.vector_store in pipeline.yaml")
            }
            return try await withConnectors { connectors in
                let stores = try connectors.vectorStores()
                guard let store = try await stores.vectorStores().first(where: { $0.id == target || $0.name == target }) else {
                    throw AppError.usage("there is no vector store `\(target)`; sync one first (`acervo kb sync --vector-store \(target)`)")
                }
                var answer = try await KnowledgeBaseQuestion(api: stores.api, baseURL: stores.baseURL)
                    .ask(question.text, vectorStore: store.id, model: question.model, filters: question.filters)
                answer.costUSD = KnowledgeBaseQuestion.cost(of: answer, model: question.model, prices: pipeline.prices)
                return answer
            }
        }
    }
}

/// A lesson an answer cites or a search found.
public typealias AnswerSource = KnowledgeBaseQuestion.Answer.Source
