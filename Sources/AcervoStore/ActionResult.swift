import Foundation

/// The outcome of one action: the digests it produced and what producing them cost.
public struct ActionResult: Sendable, Equatable, Codable {
    public var key: ActionKey
    public var processor: String
    public var processorVersion: String
    public var outputs: [String: Digest]
    /// The bytes of the distinct output blobs (a tree counts as its own blob, not its members), recorded at
    /// commit so statistics never stat every object; nil for results stored before it was recorded.
    public var outputBytes: Int64?
    public var provider: String?
    public var model: String?
    /// Provider usage figures as reported (tokens, billed seconds, …), kept for audits of `costUSD`.
    public var usage: [String: Double]
    public var costUSD: Double
    public var durationSeconds: Double
    public var runID: String?
    public var toolVersion: String
    public var createdAt: Date
    public var hitCount: Int
    public var lastHitAt: Date?
    /// What the processor left out, each saying where (`line 12: …`).
    public var warnings: [String]
    /// Facts about the input the processor reported (`encoding: windows-1252`).
    public var metadata: [String: String]

    public init(
        key: ActionKey, processor: String, processorVersion: String, outputs: [String: Digest], outputBytes: Int64? = nil,
        provider: String? = nil, model: String? = nil, usage: [String: Double] = [:], costUSD: Double = 0,
        durationSeconds: Double = 0, runID: String? = nil, toolVersion: String, createdAt: Date = Date(),
        hitCount: Int = 0, lastHitAt: Date? = nil, warnings: [String] = [], metadata: [String: String] = [:]
    ) {
        self.key = key
        self.processor = processor
        self.processorVersion = processorVersion
        self.outputs = outputs
        self.outputBytes = outputBytes
        self.provider = provider
        self.model = model
        self.usage = usage
        self.costUSD = costUSD
        self.durationSeconds = durationSeconds
        self.runID = runID
        self.toolVersion = toolVersion
        self.createdAt = createdAt
        self.hitCount = hitCount
        self.lastHitAt = lastHitAt
        self.warnings = warnings
        self.metadata = metadata
    }
}

/// Per-processor totals for `acervo cache stats`.
public struct CacheStatistics: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var processor: String
        public var entries: Int
        public var bytes: Int64
        public var hits: Int
        /// Sum over results of cost × hits: what the cache kept from being paid again.
        public var savedUSD: Double
        /// What the results cost when they were made. A paid piece's memo (a frame read, a piece of audio;
        /// committed outside any run) counts nothing here: its cost is in its action's, or in the failed
        /// action's event when no attempt succeeded.
        public var spentUSD: Double

        public init(processor: String, entries: Int = 0, bytes: Int64 = 0, hits: Int = 0, savedUSD: Double = 0, spentUSD: Double = 0) {
            self.processor = processor
            self.entries = entries
            self.bytes = bytes
            self.hits = hits
            self.savedUSD = savedUSD
            self.spentUSD = spentUSD
        }

        mutating func add(_ other: Row) {
            entries += other.entries
            bytes += other.bytes
            hits += other.hits
            savedUSD += other.savedUSD
            spentUSD += other.spentUSD
        }
    }
    public var processors: [Row]
    public var total: Row

    public init(processors: [Row]) {
        self.processors = processors.sorted { $0.processor < $1.processor }
        var total = Row(processor: "total")
        for row in processors { total.add(row) }
        self.total = total
    }
}
