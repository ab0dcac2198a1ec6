/// A text document to index: one item of a collection (a snapshot).
public struct SearchDocument: Sendable, Equatable {
    public var item: String
    public var title: String
    public var attributes: [String: String]
    public var body: String

    public init(item: String, title: String, attributes: [String: String], body: String) {
        self.item = item
        self.title = title
        self.attributes = attributes
        self.body = body
    }
}

/// One ranked match.
public struct SearchHit: Sendable, Codable, Equatable {
    public var item: String
    public var title: String
    public var attributes: [String: String]
    /// The matching passage, matches between `[` and `]`.
    public var snippet: String
    /// Lower is better (SQLite's BM25 convention).
    public var rank: Double

    public init(item: String, title: String, attributes: [String: String], snippet: String, rank: Double) {
        self.item = item
        self.title = title
        self.attributes = attributes
        self.snippet = snippet
        self.rank = rank
    }
}

/// A search's words: runs of letters and digits, every one required (accents optional).
public struct SearchQuery: Sendable, Equatable {
    public var words: [String]

    public init(_ text: String) throws(StoreError) {
        words = text.split { !$0.isLetter && !$0.isNumber }.map(String.init)
        guard !words.isEmpty else { throw .invalidArgument("the search has no words to look for") }
    }
}
