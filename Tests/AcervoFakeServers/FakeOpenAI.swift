import Foundation
import Synchronization

/// OpenAI's Files and Vector Stores APIs on 127.0.0.1, with state: uploaded files, vector stores, their files
/// going `in_progress` → `completed`. Checks what it receives the way the real API would (bearer key,
/// multipart parts, attribute limits, chunking strategy) — a violation is recorded and answered with the
/// error the real service would send — and counts every call by route.
public final class FakeOpenAI: Sendable {
    public struct StoredFile: Sendable, Equatable {
        public var id: String
        public var filename: String
        public var purpose: String
        public var content: [UInt8]
    }

    public struct VectorStoreEntry: Sendable, Equatable {
        public var fileID: String
        public var attributes: [String: String]
        public var status: String
        public var pollsLeft: Int
        public var chunking: [String: Int]
    }

    struct VectorStoreState: Sendable {
        var id: String
        var name: String
        var entries: [String: VectorStoreEntry] = [:]
        var order: [String] = []
    }

    struct State: Sendable {
        var nextID = 1
        var files: [String: StoredFile] = [:]
        var fileOrder: [String] = []
        var stores: [String: VectorStoreState] = [:]
        var storeOrder: [String] = []
        var calls: [String: Int] = [:]
        var faultedCalls = 0
        var violations: [String] = []
        /// GETs of a vector-store file before it leaves `in_progress`.
        var pollsBeforeDone = 1
        /// Files whose content contains this text end `failed` instead of `completed`.
        var failIndexingOf: String?
        var pageSize = 100
        var transcriptionSeconds: [Double] = []
        /// Pieces of about these many seconds are answered 500 (the piece kept failing).
        var poisonedSeconds: Set<Int> = []
        var lastFilters: [String: String]?
        var citations: Int?
    }

    public let apiKey: String
    public let faults: FaultInjector?
    private let state = Mutex(State())
    private let server: Mutex<FakeHTTPServer?> = Mutex(nil)

    public var baseURL: String { (server.withLock { $0?.baseURL } ?? "") + "/v1" }

    public static func start(apiKey: String = "sk-test-\(UUID().uuidString.prefix(8))", faults: FaultInjector? = nil) async throws -> FakeOpenAI {
        let fake = FakeOpenAI(apiKey: apiKey, faults: faults)
        let server = try await FakeHTTPServer.start { [fake] request in fake.handle(request) }
        fake.server.withLock { $0 = server }
        return fake
    }

    private init(apiKey: String, faults: FaultInjector?) {
        self.apiKey = apiKey
        self.faults = faults
    }

    public func stop() async {
        await server.withLock { $0 }?.stop()
    }

    // MARK: What tests read and arrange

    /// Calls that reached the service (faulted ones excluded), by route: `POST /files`,
    /// `GET /vector_stores/{id}/files`, ….
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var faultedCalls: Int { state.withLock { $0.faultedCalls } }
    public var violations: [String] { state.withLock { $0.violations } }
    /// Calls that change state (POST and DELETE).
    public var writeCalls: Int { calls.filter { $0.key.hasPrefix("POST") || $0.key.hasPrefix("DELETE") }.values.reduce(0, +) }
    public var files: [StoredFile] { state.withLock { state in state.fileOrder.compactMap { state.files[$0] } } }

    public func entries(ofStoreNamed name: String) -> [VectorStoreEntry] {
        state.withLock { state in
            guard let store = state.stores.values.first(where: { $0.name == name }) else { return [] }
            return store.order.compactMap { store.entries[$0] }
        }
    }

    public func storeID(named name: String) -> String? {
        state.withLock { $0.stores.values.first(where: { $0.name == name })?.id }
    }

    public func resetCounts() { state.withLock { $0.calls = [:]; $0.faultedCalls = 0 } }
    public func setPollsBeforeDone(_ polls: Int) { state.withLock { $0.pollsBeforeDone = polls } }
    public func failIndexing(ofContentContaining text: String?) { state.withLock { $0.failIndexingOf = text } }
    public func setPageSize(_ size: Int) { state.withLock { $0.pageSize = size } }

    /// Removes a file from a vector store the way a person in OpenAI's dashboard would.
    public func removeByHand(fileID: String, fromStoreNamed name: String) {
        state.withLock { state in
            guard let id = state.stores.values.first(where: { $0.name == name })?.id else { return }
            state.stores[id]?.entries[fileID] = nil
            state.stores[id]?.order.removeAll { $0 == fileID }
        }
    }

    // MARK: Serving

    func handle(_ request: FakeRequest) -> FakeReply {
        guard request.headers["authorization"] == "Bearer \(apiKey)" else {
            return violation("\(request.method) \(request.path) without `Authorization: Bearer <key>`", status: 401,
                             message: "Incorrect API key provided")
        }
        let fault = faults?.next()
        if let fault, let reply = faults?.replyBeforeProcessing(fault) {
            state.withLock { $0.faultedCalls += 1 }
            return reply
        }
        let reply = route(request)
        if let fault, let faults { return faults.replyAfterProcessing(fault, reply) }
        return reply
    }

    private func count(_ route: String) { state.withLock { $0.calls[route, default: 0] += 1 } }

    private func violation(_ text: String, status: Int = 400, message: String? = nil) -> FakeReply {
        state.withLock { $0.violations.append(text) }
        return .error(status, message ?? text)
    }

    private func route(_ request: FakeRequest) -> FakeReply {
        var segments = request.path.split(separator: "/").map(String.init)
        guard segments.first == "v1" else { return violation("unknown path \(request.path)", status: 404) }
        segments.removeFirst()
        switch (request.method, segments.count, segments.first) {
        case ("GET", 1, "vector_stores"): count("GET /vector_stores"); return listStores(request)
        case ("POST", 1, "vector_stores"): count("POST /vector_stores"); return createStore(request)
        case ("GET", 3, "vector_stores") where segments[2] == "files":
            count("GET /vector_stores/{id}/files"); return listStoreFiles(segments[1], request)
        case ("POST", 3, "vector_stores") where segments[2] == "files":
            count("POST /vector_stores/{id}/files"); return attach(segments[1], request)
        case ("GET", 4, "vector_stores") where segments[2] == "files":
            count("GET /vector_stores/{id}/files/{file}"); return poll(segments[1], segments[3])
        case ("POST", 4, "vector_stores") where segments[2] == "files":
            count("POST /vector_stores/{id}/files/{file}"); return updateAttributes(segments[1], segments[3], request)
        case ("DELETE", 4, "vector_stores") where segments[2] == "files":
            count("DELETE /vector_stores/{id}/files/{file}"); return detach(segments[1], segments[3])
        case ("POST", 2, "audio") where segments[1] == "transcriptions": count("POST /audio/transcriptions"); return transcribe(request)
        case ("POST", 1, "responses"): count("POST /responses"); return respond(request)
        case ("POST", 1, "files"): count("POST /files"); return upload(request)
        case ("GET", 1, "files"): count("GET /files"); return listFiles(request)
        case ("DELETE", 2, "files"): count("DELETE /files/{id}"); return deleteFile(segments[1])
        default: return violation("no such endpoint: \(request.method) \(request.path)", status: 404)
        }
    }

    private func newID(_ prefix: String) -> String {
        state.withLock { state in
            defer { state.nextID += 1 }
            return "\(prefix)\(String(format: "%06d", state.nextID))"
        }
    }

    /// A cursor page: `limit` (1…100), `after`.
    private func page(_ ids: [String], _ request: FakeRequest, render: (String) -> Any?) -> FakeReply {
        let pageSize = state.withLock { $0.pageSize }
        let limit = Int(request.query["limit"] ?? "20") ?? -1
        guard (1...100).contains(limit) else { return violation("limit must be 1…100, got \(request.query["limit"] ?? "")") }
        var start = 0
        if let after = request.query["after"] {
            guard let index = ids.firstIndex(of: after) else { return violation("`after` names an unknown id \(after)") }
            start = index + 1
        }
        let slice = Array(ids[min(start, ids.count)...].prefix(min(limit, pageSize)))
        return .json(200, [
            "object": "list", "data": slice.compactMap(render),
            "first_id": slice.first.map { $0 as Any } ?? NSNull(), "last_id": slice.last.map { $0 as Any } ?? NSNull(),
            "has_more": start + slice.count < ids.count,
        ])
    }

    private func listStores(_ request: FakeRequest) -> FakeReply {
        let (order, stores) = state.withLock { ($0.storeOrder, $0.stores) }
        return page(order, request) { id in stores[id].map { ["id": $0.id, "object": "vector_store", "name": $0.name] } }
    }

    private func createStore(_ request: FakeRequest) -> FakeReply {
        guard let body = request.json, let name = body["name"] as? String else {
            return violation("POST /vector_stores needs a JSON body with a string `name`")
        }
        let id = newID("vs_")
        state.withLock { state in
            state.stores[id] = VectorStoreState(id: id, name: name)
            state.storeOrder.append(id)
        }
        return .json(200, ["id": id, "object": "vector_store", "name": name, "status": "completed"])
    }

    private func render(_ entry: VectorStoreEntry, store: String) -> [String: Any] {
        var object: [String: Any] = ["id": entry.fileID, "object": "vector_store.file", "vector_store_id": store, "status": entry.status,
                                     "attributes": entry.attributes, "usage_bytes": entry.status == "completed" ? 1_000 : 0]
        object["last_error"] = entry.status == "failed" ? ["code": "unsupported_file", "message": "The file could not be parsed"] : NSNull()
        return object
    }

    private func listStoreFiles(_ storeID: String, _ request: FakeRequest) -> FakeReply {
        guard let store = state.withLock({ $0.stores[storeID] }) else { return .error(404, "No vector store found with id '\(storeID)'.") }
        return page(store.order, request) { id in store.entries[id].map { render($0, store: storeID) } }
    }

    private func validate(attributes: Any?) -> Result<[String: String], FakeViolation> {
        guard let attributes = attributes as? [String: Any] else { return .failure(FakeViolation("`attributes` must be an object")) }
        guard attributes.count <= 16 else { return .failure(FakeViolation("`attributes` has \(attributes.count) keys; at most 16 are allowed")) }
        var strings: [String: String] = [:]
        for (key, value) in attributes {
            guard key.count <= 64 else { return .failure(FakeViolation("attribute key `\(key)` is longer than 64 characters")) }
            guard let text = value as? String else { return .failure(FakeViolation("attribute `\(key)` is not a string")) }
            guard text.count <= 512 else { return .failure(FakeViolation("attribute `\(key)` is longer than 512 characters")) }
            strings[key] = text
        }
        return .success(strings)
    }

    private func attach(_ storeID: String, _ request: FakeRequest) -> FakeReply {
        guard request.headers["content-type"]?.hasPrefix("application/json") == true, let body = request.json else {
            return violation("POST /vector_stores/\(storeID)/files needs a JSON body")
        }
        guard let fileID = body["file_id"] as? String else { return violation("`file_id` is missing") }
        let attributes: [String: String]
        switch validate(attributes: body["attributes"]) {
        case .success(let valid): attributes = valid
        case .failure(let problem): return violation(problem.description)
        }
        guard let strategy = body["chunking_strategy"] as? [String: Any], strategy["type"] as? String == "static",
              let staticPart = strategy["static"] as? [String: Any],
              let size = staticPart["max_chunk_size_tokens"] as? Int, let overlap = staticPart["chunk_overlap_tokens"] as? Int else {
            return violation("`chunking_strategy` must be {type: static, static: {max_chunk_size_tokens, chunk_overlap_tokens}}")
        }
        guard (100...4096).contains(size), overlap >= 0, overlap <= size / 2 else {
            return violation("chunking: max_chunk_size_tokens must be 100…4096 and chunk_overlap_tokens at most half of it")
        }
        return state.withLock { state -> FakeReply in
            guard state.stores[storeID] != nil else { return .error(404, "No vector store found with id '\(storeID)'.") }
            guard let file = state.files[fileID] else { return .error(404, "No file found with id '\(fileID)'.") }
            if let existing = state.stores[storeID]?.entries[fileID] { return .json(200, render(existing, store: storeID)) }
            let failing = state.failIndexingOf.map { file.text.contains($0) } ?? false
            var entry = VectorStoreEntry(fileID: fileID, attributes: attributes, status: "in_progress", pollsLeft: state.pollsBeforeDone,
                                         chunking: ["max": size, "overlap": overlap])
            if entry.pollsLeft == 0 { entry.status = failing ? "failed" : "completed" }
            state.stores[storeID]?.entries[fileID] = entry
            state.stores[storeID]?.order.append(fileID)
            return .json(200, render(entry, store: storeID))
        }
    }

    private func poll(_ storeID: String, _ fileID: String) -> FakeReply {
        state.withLock { state -> FakeReply in
            guard var entry = state.stores[storeID]?.entries[fileID] else { return .error(404, "No file found with id '\(fileID)' in vector store.") }
            if entry.status == "in_progress" {
                entry.pollsLeft -= 1
                if entry.pollsLeft <= 0 {
                    let failing = state.failIndexingOf.map { state.files[fileID]?.text.contains($0) ?? false } ?? false
                    entry.status = failing ? "failed" : "completed"
                }
                state.stores[storeID]?.entries[fileID] = entry
            }
            return .json(200, render(entry, store: storeID))
        }
    }

    private func updateAttributes(_ storeID: String, _ fileID: String, _ request: FakeRequest) -> FakeReply {
        guard let body = request.json else { return violation("POST /vector_stores/\(storeID)/files/\(fileID) needs a JSON body") }
        let attributes: [String: String]
        switch validate(attributes: body["attributes"]) {
        case .success(let valid): attributes = valid
        case .failure(let problem): return violation(problem.description)
        }
        return state.withLock { state -> FakeReply in
            guard var entry = state.stores[storeID]?.entries[fileID] else { return .error(404, "No file found with id '\(fileID)' in vector store.") }
            entry.attributes = attributes
            state.stores[storeID]?.entries[fileID] = entry
            return .json(200, render(entry, store: storeID))
        }
    }

    private func detach(_ storeID: String, _ fileID: String) -> FakeReply {
        state.withLock { state -> FakeReply in
            guard state.stores[storeID]?.entries[fileID] != nil else { return .error(404, "No file found with id '\(fileID)' in vector store.") }
            state.stores[storeID]?.entries[fileID] = nil
            state.stores[storeID]?.order.removeAll { $0 == fileID }
            return .json(200, ["id": fileID, "object": "vector_store.file.deleted", "deleted": true])
        }
    }

    private func upload(_ request: FakeRequest) -> FakeReply {
        let parts: [FormPart]
        switch parseMultipart(request.body, contentType: request.headers["content-type"]) {
        case .success(let parsed): parts = parsed
        case .failure(let problem): return violation("POST /files: \(problem)")
        }
        guard let purpose = parts.first(where: { $0.name == "purpose" })?.text, purpose == "assistants" || purpose == "user_data" else {
            return violation("POST /files: the `purpose` part must be `assistants`")
        }
        guard let file = parts.first(where: { $0.name == "file" }), let filename = file.filename, !filename.isEmpty else {
            return violation("POST /files: the `file` part with a filename is missing")
        }
        let id = newID("file-")
        state.withLock { state in
            state.files[id] = StoredFile(id: id, filename: filename, purpose: purpose, content: file.content)
            state.fileOrder.append(id)
        }
        return .json(200, ["id": id, "object": "file", "bytes": file.content.count, "filename": filename, "purpose": purpose, "status": "processed"])
    }

    /// `/audio/transcriptions`: checks the multipart form like OpenAI (file ≤ 25 MB, a model, a known
    /// response_format) and answers, for FLAC audio, a segment per 10 s and a word per second.
    private func transcribe(_ request: FakeRequest) -> FakeReply {
        let parts: [FormPart]
        switch parseMultipart(request.body, contentType: request.headers["content-type"]) {
        case .success(let parsed): parts = parsed
        case .failure(let problem): return violation("POST /audio/transcriptions: \(problem)")
        }
        guard let file = parts.first(where: { $0.name == "file" }), file.filename != nil else { return violation("the `file` part is missing") }
        guard file.content.count <= 25 << 20 else { return violation("Maximum content size limit (26214400) exceeded", status: 413) }
        guard let model = parts.first(where: { $0.name == "model" })?.text, !model.isEmpty else { return violation("`model` is required") }
        let format = parts.first(where: { $0.name == "response_format" })?.text ?? "json"
        guard ["json", "verbose_json", "text"].contains(format) else { return violation("unknown response_format \(format)") }
        guard let seconds = FakeGoogle.flacDuration(file.content) else { return violation("Invalid file format.") }
        state.withLock { $0.transcriptionSeconds.append(seconds) }
        if state.withLock({ $0.poisonedSeconds.contains(Int(seconds.rounded())) }) {
            return .json(500, ["error": ["message": "The server had an error while processing your request.", "type": "server_error"]])
        }
        var words: [[String: Any]] = []
        var segments: [[String: Any]] = []
        var second = 0
        while Double(second) < seconds - 0.25 {
            words.append(["word": "p", "start": Double(second), "end": Double(second) + 0.5])
            if second % 10 == 0 { segments.append(["id": segments.count, "start": Double(second), "end": min(seconds, Double(second + 10)), "text": ""]) }
            second += 1
        }
        for index in segments.indices {
            let count = words.filter { ($0["start"] as! Double) >= (segments[index]["start"] as! Double) && ($0["start"] as! Double) < (segments[index]["end"] as! Double) }.count
            segments[index]["text"] = " " + Array(repeating: "p", count: count).joined(separator: " ")
        }
        let text = Array(repeating: "p", count: words.count).joined(separator: " ")
        if format != "verbose_json" { return .json(200, ["text": text]) }
        return .json(200, ["task": "transcribe", "language": "spanish", "duration": seconds, "text": text, "segments": segments, "words": words])
    }

    /// How many files the answers of `/responses` cite (default: the best one).
    public func cite(_ count: Int) { state.withLock { $0.citations = count } }

    /// The filters last received by `/responses`, as sent.
    public var lastFilters: [String: String]? { state.withLock { $0.lastFilters } }

    /// `/responses` with one `file_search` tool: checks the tool's shape and its attribute filters (`eq`,
    /// combined with `and` / `or`), ranks the store's matching files by words shared with the question, and
    /// answers with the best file's first heading.
    private func respond(_ request: FakeRequest) -> FakeReply {
        guard let body = request.json, body["model"] is String, let question = body["input"] as? String else {
            return violation("/responses needs `model` and `input`")
        }
        guard let tools = body["tools"] as? [[String: Any]], tools.count == 1, tools[0]["type"] as? String == "file_search",
              let ids = tools[0]["vector_store_ids"] as? [String], let storeID = ids.first else {
            return violation("the tool must be {type: file_search, vector_store_ids: [...]}")
        }
        var conditions: [String: String] = [:]
        if let filters = tools[0]["filters"] as? [String: Any] {
            func collect(_ filter: [String: Any]) -> Bool {
                switch filter["type"] as? String {
                case "eq":
                    guard let key = filter["key"] as? String, let value = filter["value"] as? String else { return false }
                    conditions[key] = value
                    return true
                case "and":
                    return (filter["filters"] as? [[String: Any]])?.allSatisfy(collect) ?? false
                default:
                    return false
                }
            }
            guard collect(filters) else { return violation("filters must be {type: eq, key, value} or {type: and, filters: [...]}") }
        }
        state.withLock { $0.lastFilters = conditions }
        let (store, files) = state.withLock { ($0.stores[storeID], $0.files) }
        guard let store else { return .error(404, "Vector store \(storeID) not found") }
        let words = Set(question.lowercased().split { !$0.isLetter }.map(String.init))
        let ranked = store.order.compactMap { store.entries[$0] }
            .filter { entry in conditions.allSatisfy { entry.attributes[$0.key] == $0.value } }
            .map { entry -> (VectorStoreEntry, Double) in
                let text = files[entry.fileID]?.text.lowercased() ?? ""
                let shared = words.filter { text.contains($0) }.count
                return (entry, Double(shared) / Double(max(1, words.count)))
            }
            .filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
        let results: [[String: Any]] = ranked.prefix(5).map { entry, score in
            ["file_id": entry.fileID, "filename": files[entry.fileID]?.filename ?? "", "score": score, "attributes": entry.attributes,
             "text": String(files[entry.fileID]?.text.prefix(200) ?? "")]
        }
        let best = ranked.first.flatMap { files[$0.0.fileID]?.text.split(separator: "\n").first { $0.hasPrefix("# ") } }
        let answer = best.map { "Según la lección \($0.dropFirst(2)): …" } ?? "No encontré esa información en el material del curso."
        // The answer cites the best files (as many as `citations` says; by default the best one), each with a
        // `file_citation` annotation the way the Responses API marks them.
        let citing = state.withLock { $0.citations } ?? 1
        let annotations: [[String: Any]] = ranked.prefix(citing).enumerated().map { index, entry in
            ["type": "file_citation", "index": answer.count + index, "file_id": entry.0.fileID, "filename": files[entry.0.fileID]?.filename ?? ""]
        }
        return .json(200, [
            "id": "resp_1", "object": "response", "status": "completed",
            "output": [
                ["type": "file_search_call", "id": "fs_1", "status": "completed", "queries": [question], "results": results],
                ["type": "message", "id": "msg_1", "role": "assistant", "content": [["type": "output_text", "text": answer, "annotations": annotations]]],
            ],
            "usage": ["input_tokens": 1200, "output_tokens": 40, "total_tokens": 1240],
        ])
    }

    /// Seconds of audio in each transcription request.
    public var transcriptionSeconds: [Double] { state.withLock { $0.transcriptionSeconds } }
    /// Pieces of `seconds` (rounded) fail with a 500 until `heal`.
    public func poisonTranscription(seconds: Int) { state.withLock { _ = $0.poisonedSeconds.insert(seconds) } }
    public func healTranscription() { state.withLock { $0.poisonedSeconds.removeAll(); $0.transcriptionSeconds.removeAll() } }

    private func listFiles(_ request: FakeRequest) -> FakeReply {
        let (order, files) = state.withLock { ($0.fileOrder, $0.files) }
        let wanted = order.filter { id in request.query["purpose"].map { files[id]?.purpose == $0 } ?? true }
        return page(wanted, request) { id in
            files[id].map { ["id": $0.id, "object": "file", "bytes": $0.content.count, "filename": $0.filename, "purpose": $0.purpose] }
        }
    }

    private func deleteFile(_ id: String) -> FakeReply {
        state.withLock { state -> FakeReply in
            guard state.files[id] != nil else { return .error(404, "No such File object: \(id)") }
            state.files[id] = nil
            state.fileOrder.removeAll { $0 == id }
            return .json(200, ["id": id, "object": "file", "deleted": true])
        }
    }
}

extension FakeOpenAI.StoredFile {
    public var text: String { String(decoding: content, as: UTF8.self) }
}
