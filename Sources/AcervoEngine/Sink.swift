import AcervoStore
import Foundation

/// Where a knowledge base goes once it is built: a sink makes its target hold exactly one snapshot's
/// documents (the OpenAI vector store the support assistants search; for a local knowledge base, the store
/// itself). Publishing the same snapshot twice changes nothing the second time.
public protocol Sink: Sendable {
    /// The target, for messages and the run record (`vs_…`, `store`).
    var target: String { get }
    /// Brings the target up to date with `manifest` (the snapshot `snapshot`), recording each item's step
    /// as a decision of `run`. Failures of single items are in the report; a thrown error means the sink
    /// could not be reached or listed at all.
    func publish(_ manifest: SnapshotManifest, snapshot: Digest, run: String, store: Store,
                 progress: @escaping @Sendable (String) -> Void) async throws -> SyncReport
}

/// What publishing a snapshot did to a sink's target.
public struct SyncReport: Sendable, Codable, Equatable {
    public struct Failure: Sendable, Codable, Equatable {
        public var itemID: String
        public var error: String

        public init(itemID: String, error: String) {
            self.itemID = itemID
            self.error = error
        }
    }
    public var run: String
    public var vectorStore: String
    public var snapshot: String
    /// Documents already current: left alone.
    public var kept = 0
    public var uploaded: [String] = []
    /// Documents whose attributes were rewritten in place (same document).
    public var updated: [String] = []
    /// Items (or stray file ids) removed from the target.
    public var removed: [String] = []
    /// Uploaded files that no entry uses (an upload whose answer was lost), deleted.
    public var orphansDeleted = 0
    public var failures: [Failure] = []
    public var usageBytes = 0

    public init(run: String, vectorStore: String, snapshot: String) {
        self.run = run
        self.vectorStore = vectorStore
        self.snapshot = snapshot
    }

    public var isComplete: Bool { failures.isEmpty }
}
