import AcervoConnectors
import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
import Synchronization

/// What the concurrent steps of one sync share.
private final class SyncState: Sendable {
    let runID: String
    let report: Mutex<SyncReport>
    /// Files in use by the vector store: kept by the orphan sweep.
    let attached: Mutex<Set<String>>
    let records = Mutex<[DecisionRecord]>([])

    init(runID: String, report: SyncReport, attached: Set<String>) {
        self.runID = runID
        self.report = Mutex(report)
        self.attached = Mutex(attached)
    }

    func record(_ item: String, _ decision: Decision, _ reason: DecisionReason, error: String? = nil) {
        records.withLock {
            $0.append(DecisionRecord(event: Event(runID: runID, itemID: item, rule: "sync", key: nil, decision: decision, reason: reason, error: error)))
        }
    }
}

/// Makes an OpenAI vector store hold exactly a snapshot's documents — reconciliation, not blind upload:
/// list what the store holds, keep what is current, update attributes in place, upload what is missing,
/// delete what the snapshot no longer has, and wait for every new file to be `completed`. A second sync of
/// the same snapshot makes no write calls.
///
/// A file is current when its attributes name the same item, document digest and chunking strategy; those
/// live in the vector store itself, so a store edited by hand (a file deleted in the dashboard) is repaired
/// rather than trusted from a local record.
public struct OpenAIVectorStoreSink: Sink {
    public let client: OpenAIVectorStores
    /// The vector store: a name (created when missing) or a `vs_…` id.
    public let target: String
    public var chunking: Chunking
    public var concurrency: Int
    public var pollIntervalSeconds: Double
    /// How long a file may stay `in_progress` before the sync gives up on it.
    public var pollTimeoutSeconds: Double

    public init(client: OpenAIVectorStores, vectorStore: String, chunking: Chunking = Chunking(), concurrency: Int = 4,
                pollIntervalSeconds: Double = 1, pollTimeoutSeconds: Double = 900) {
        self.client = client
        self.target = vectorStore
        self.chunking = chunking
        self.concurrency = max(1, concurrency)
        self.pollIntervalSeconds = pollIntervalSeconds
        self.pollTimeoutSeconds = pollTimeoutSeconds
    }

    /// Attribute names Acervo itself sets; the others come from the snapshot.
    static let itemAttribute = "item_id"
    static let documentAttribute = "acervo_document"
    static let chunkingAttribute = "acervo_chunking"
    /// OpenAI's limits on vector-store file attributes.
    static let maxAttributes = 16
    static let maxAttributeLength = 512
    /// Kept first when an item has more metadata than the limit allows: what assistants filter on.
    static let preferredAttributes = ["school", "topic", "level", "course", "module", "lesson", "language", "title"]

    /// The attributes a snapshot entry's file carries.
    func attributes(of entry: SnapshotEntry) -> [String: String] {
        var attributes = [
            Self.itemAttribute: entry.itemID,
            Self.documentAttribute: entry.document.hex,
            Self.chunkingAttribute: chunking.label,
        ]
        let others = entry.attributes.keys.filter { attributes[$0] == nil }
        let ordered = Self.preferredAttributes.filter(others.contains) + others.filter { !Self.preferredAttributes.contains($0) }.sorted()
        for name in ordered.prefix(Self.maxAttributes - attributes.count) {
            attributes[name] = String((entry.attributes[name] ?? "").prefix(Self.maxAttributeLength))
        }
        return attributes
    }

    /// The uploaded file's name: the vector store's id first, so a sweep can tell this store's orphans apart.
    func filename(of entry: SnapshotEntry, vectorStore: String) -> String {
        let item = String(entry.itemID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(80))
        return "acervo.\(vectorStore).\(item).\(entry.document.hex.prefix(12)).md"
    }

    /// The ref recording the snapshot a vector store last fully matched.
    static func syncedRef(_ vectorStore: String) -> String { "sync/\(vectorStore)" }

    private enum Work: Sendable {
        case upload(SnapshotEntry)
        case update(SnapshotEntry, fileID: String)
        case wait(SnapshotEntry, fileID: String)
        case remove(label: String, fileID: String)
    }

    public func publish(_ manifest: SnapshotManifest, snapshot: Digest, run: String, store: Store,
                        progress: @escaping @Sendable (String) -> Void) async throws -> SyncReport {
        try await reconcile(manifest, snapshot: snapshot, nameOrID: target, runID: run, store: store, progress: progress)
    }

    private func reconcile(_ manifest: SnapshotManifest, snapshot: Digest, nameOrID: String, runID: String, store: Store,
                           progress: @escaping @Sendable (String) -> Void) async throws -> SyncReport {
        let vectorStore = try await client.resolveVectorStore(nameOrID)
        let current = try await client.files(in: vectorStore.id)
        var report = SyncReport(run: runID, vectorStore: vectorStore.id, snapshot: snapshot.description)
        var wanted = Dictionary(manifest.entries.map { ($0.itemID, $0) }, uniquingKeysWith: { $1 })
        var work: [Work] = []
        var claimed = Set<String>()
        for file in current {
            let attributes = file.stringAttributes
            let usable = file.status == "completed" || file.status == "in_progress"
            guard usable, let item = attributes[Self.itemAttribute], let entry = wanted[item],
                  attributes[Self.documentAttribute] == entry.document.hex,
                  attributes[Self.chunkingAttribute] == chunking.label else {
                work.append(.remove(label: file.stringAttributes[Self.itemAttribute] ?? file.id, fileID: file.id))
                continue
            }
            wanted[item] = nil
            claimed.insert(file.id)
            if attributes != self.attributes(of: entry) {
                work.append(.update(entry, fileID: file.id))
            } else if file.status == "in_progress" {
                work.append(.wait(entry, fileID: file.id))
            } else {
                report.kept += 1
                report.usageBytes += file.usageBytes ?? 0
            }
        }
        work += wanted.values.sorted { $0.itemID < $1.itemID }.map(Work.upload)
        progress("vector store \(vectorStore.id): \(report.kept) current, \(work.count) to change")

        let state = SyncState(runID: runID, report: report, attached: claimed)
        await withTaskGroup(of: Void.self) { group in
            var pending = work.makeIterator()
            func startNext() {
                guard let next = pending.next() else { return }
                group.addTask {
                    do {
                        try await perform(next, vectorStore: vectorStore.id, state: state, store: store, progress: progress)
                    } catch {
                        let item = Self.item(of: next)
                        state.report.withLock { $0.failures.append(.init(itemID: item, error: "\(error)")) }
                        state.record(item, .failed, .sink(Self.step(of: next)), error: "\(error)")
                        progress("failed: \(item): \(error)")
                    }
                }
            }
            for _ in 0..<concurrency { startNext() }
            for await _ in group { startNext() }
        }
        report = state.report.withLock { $0 }
        let changedAnything = !report.uploaded.isEmpty || !report.removed.isEmpty || !report.failures.isEmpty
        let lastSynced = try await store.refs.ref(Self.syncedRef(vectorStore.id))?.digest
        if changedAnything || lastSynced == nil {
            report.orphansDeleted = try await sweepOrphans(vectorStore: vectorStore.id, keep: state.attached.withLock { $0 })
        }
        report.uploaded.sort()
        report.updated.sort()
        report.removed.sort()
        report.failures.sort { $0.itemID < $1.itemID }
        state.records.withLock { decisions in
            let decided = Set(decisions.map(\.event.itemID))
            for entry in manifest.entries where !decided.contains(entry.itemID) {
                decisions.append(DecisionRecord(event: Event(runID: runID, itemID: entry.itemID, rule: "sync", key: nil, decision: .hit,
                                                             reason: .sink(.keep(target: vectorStore.id)))))
            }
        }
        try await store.journal.record(state.records.withLock { $0 })
        if report.isComplete { try await store.refs.setRefs([(Self.syncedRef(vectorStore.id), snapshot)], at: Date()) }
        return report
    }

    private static func item(of work: Work) -> String {
        switch work {
        case .upload(let entry), .update(let entry, _), .wait(let entry, _): return entry.itemID
        case .remove(let label, _): return label
        }
    }

    private static func step(of work: Work) -> SinkStep {
        switch work {
        case .upload(let entry): return .upload(document: entry.document)
        case .update: return .updateAttributes
        case .wait: return .waitForIndexing
        case .remove: return .remove
        }
    }

    private func perform(_ work: Work, vectorStore: String, state: SyncState, store: Store, progress: @Sendable (String) -> Void) async throws {
        switch work {
        case .remove(let label, let fileID):
            try await client.detach(fileID, from: vectorStore)
            try await client.delete(file: fileID)
            state.report.withLock { $0.removed.append(label) }
            state.record(label, .executed, .sink(.remove))
            progress("removed \(label)")
        case .update(let entry, let fileID):
            let file = try await client.update(fileID, in: vectorStore, attributes: attributes(of: entry))
            let done = try await waitUntilIndexed(file, vectorStore: vectorStore, item: entry.itemID)
            state.report.withLock {
                $0.updated.append(entry.itemID)
                $0.usageBytes += done.usageBytes ?? 0
            }
            state.record(entry.itemID, .executed, .sink(.updateAttributes))
            progress("updated \(entry.itemID)")
        case .wait(let entry, let fileID):
            let done = try await waitUntilIndexed(try await client.file(fileID, in: vectorStore), vectorStore: vectorStore, item: entry.itemID)
            state.report.withLock {
                $0.kept += 1
                $0.usageBytes += done.usageBytes ?? 0
            }
        case .upload(let entry):
            let content = try await store.blobs.bytes(of: entry.document)
            let uploaded = try await client.upload(filename: filename(of: entry, vectorStore: vectorStore), content)
            state.attached.withLock { _ = $0.insert(uploaded.id) }
            let file = try await client.attach(uploaded.id, to: vectorStore, attributes: attributes(of: entry), chunking: chunking)
            let done: VectorStoreFile
            do {
                done = try await waitUntilIndexed(file, vectorStore: vectorStore, item: entry.itemID)
            } catch {
                // Leave nothing half-done behind: a failed file would otherwise be searched as if it were current.
                // No longer kept: if removing it fails here, the orphan sweep deletes it.
                state.attached.withLock { _ = $0.remove(uploaded.id) }
                do {
                    try await client.detach(uploaded.id, from: vectorStore)
                    try await client.delete(file: uploaded.id)
                } catch let cleanup {
                    progress("could not remove the failed upload \(uploaded.id) of \(entry.itemID) yet (\(cleanup)); the orphan sweep will")
                }
                throw error
            }
            state.report.withLock {
                $0.uploaded.append(entry.itemID)
                $0.usageBytes += done.usageBytes ?? 0
            }
            state.record(entry.itemID, .executed, .sink(.upload(document: entry.document)))
            progress("uploaded \(entry.itemID)")
        }
    }

    /// Polls a vector-store file until OpenAI has chunked and embedded it.
    private func waitUntilIndexed(_ file: VectorStoreFile, vectorStore: String, item: String) async throws -> VectorStoreFile {
        var file = file
        let deadline = Date().addingTimeInterval(pollTimeoutSeconds)
        while file.status == "in_progress" {
            guard Date() < deadline else {
                throw ConnectorError(.failed, provider: OpenAIVectorStores.provider, request: "GET /vector_stores/\(vectorStore)/files/\(file.id)",
                                     message: "still in_progress after \(Int(pollTimeoutSeconds)) s")
            }
            try await client.api.pause(seconds: pollIntervalSeconds, "GET /vector_stores/\(vectorStore)/files/\(file.id)")
            file = try await client.file(file.id, in: vectorStore)
        }
        guard file.status == "completed" else {
            let reason = [file.lastError?.code, file.lastError?.message].compactMap { $0 }.joined(separator: ": ")
            throw ConnectorError(.failed, provider: OpenAIVectorStores.provider, request: "POST /vector_stores/\(vectorStore)/files",
                                 message: "indexing `\(item)` ended `\(file.status)`\(reason.isEmpty ? "" : " (\(reason))")")
        }
        return file
    }

    /// Deletes uploaded files named for this vector store that no entry of it uses.
    private func sweepOrphans(vectorStore: String, keep: Set<String>) async throws(ConnectorError) -> Int {
        let prefix = "acervo.\(vectorStore)."
        var deleted = 0
        for file in try await client.uploadedFiles() where (file.filename ?? "").hasPrefix(prefix) && !keep.contains(file.id) {
            try await client.delete(file: file.id)
            deleted += 1
        }
        return deleted
    }
}
