/// A mistake in the rules, with where it is and how to fix it.
public struct RulesError: Error, Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation?
    public var message: String
    public var fix: String?

    /// Messages quote what the file says (keys, values); a hostile or broken file must not make them pages
    /// long, so each part is cut at a few hundred characters.
    public init(_ message: String, at location: SourceLocation?, fix: String? = nil) {
        self.location = location
        self.message = message.count <= 600 ? message : message.prefix(600) + "…"
        self.fix = fix.map { $0.count <= 300 ? $0 : $0.prefix(300) + "…" }
    }

    public var description: String {
        (location.map { "\($0): " } ?? "") + message + (fix.map { "; \($0)" } ?? "")
    }
}

/// The closest candidate by edit distance, if it is close enough to be a plausible typo.
func suggestion(for word: String, among candidates: some Sequence<String>) -> String? {
    if let extended = candidates.filter({ $0.hasPrefix(word) || word.hasPrefix($0) }).min(by: { $0.count < $1.count }), !word.isEmpty {
        return extended
    }
    let scored = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
    guard let (best, distance) = scored, distance <= max(2, word.count / 3) else { return nil }
    return best
}

func didYouMean(_ word: String, among candidates: some Sequence<String>) -> String? {
    suggestion(for: word, among: candidates).map { "did you mean `\($0)`?" }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
