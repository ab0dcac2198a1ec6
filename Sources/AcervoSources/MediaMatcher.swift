import Foundation

/// A hosted video (or a file in a folder) that a page may be paired with.
struct MatchCandidate<Video: Sendable>: Sendable {
    /// The host's id (`123456`), or the file's path in its folder.
    var id: String
    /// The title people gave it (`Aula 03 - Variáveis`), or the file's name.
    var name: String
    /// Where an id may be written besides the name: the description.
    var description: String
    /// The folder it sits in, when the host has folders (compared with the module's name).
    var folder: String?
    var video: Video

    /// `Aula 03 - Variáveis (123456)`: how `acervo media` names it.
    var shown: String { "\(name) (\(id))" }
}

/// How one page was paired.
enum PageMatch<Video: Sendable>: Sendable {
    case matched(MatchCandidate<Video>, how: String, score: Double)
    case ambiguous([MatchCandidate<Video>])
    case unmatched(String)

    var outcome: MatchOutcome {
        switch self {
        case .matched(let candidate, let how, let score): .matched(candidate: candidate.shown, how: how, score: score)
        case .ambiguous(let candidates): .ambiguous(candidates: candidates.map(\.shown))
        case .unmatched(let reason): .unmatched(reason: reason)
        }
    }
}

/// Pairs catalog pages with hosted videos without a manifest: by the page's id written in a video's name or
/// description (`… [4kq9Xz] …`), else by titles compared the way people write them — accents, case and
/// numbering (`Aula 03 -`, `3.`, `Lesson 3:`) set aside; between equally close titles, the one in the folder
/// named like the page's module. A page gets one video or none: two videos equally close make it ambiguous, never a guess.
struct MediaMatcher {
    var minimumScore: Double
    /// Scores closer than this to the best are as good as the best.
    static let tie = 0.05

    func match<Video: Sendable>(pages: [CatalogPage], candidates: [MatchCandidate<Video>]) -> [String: PageMatch<Video>] {
        var result: [String: PageMatch<Video>] = [:]
        var taken = Set<String>()
        let normalizedCandidates = candidates.map { (candidate: $0, title: Self.normalized($0.name), tokens: Self.tokens(Self.normalized($0.name)),
                                                     folder: $0.folder.map(Self.normalized), words: Self.idTokens($0.name + " " + $0.description)) }
        // 1. An id written on the video is the strongest evidence there is.
        for page in pages {
            let withID = normalizedCandidates.filter { $0.words.contains(page.pageID.lowercased()) }
            if withID.count == 1 {
                result[page.pageID] = .matched(withID[0].candidate, how: "id", score: 1)
                taken.insert(withID[0].candidate.id)
            } else if withID.count > 1 {
                result[page.pageID] = .ambiguous(withID.map(\.candidate))
            }
        }
        // 2. Titles, best pairs first, each video given once.
        var scored: [(page: CatalogPage, ranked: [(candidate: MatchCandidate<Video>, score: Double, inModule: Bool)])] = []
        for page in pages where result[page.pageID] == nil {
            let title = Self.normalized(page.title), tokens = Self.tokens(title), module = Self.tokens(Self.normalized(page.moduleName))
            let ranked = normalizedCandidates.map { entry -> (candidate: MatchCandidate<Video>, score: Double, inModule: Bool) in
                let score = entry.title == title && !title.isEmpty ? 1.0 : Self.dice(tokens, entry.tokens)
                // The video's folder is the module's when one's words hold the other's (`Estruturas` and
                // `Estruturas de dados`) or they mostly agree.
                let folder = entry.folder.map { Self.tokens($0) } ?? []
                let inModule = !folder.isEmpty && !module.isEmpty
                    && (folder.isSubset(of: module) || module.isSubset(of: folder) || Self.dice(folder, module) >= 0.8)
                return (entry.candidate, score, inModule)
            }.sorted { $0.score > $1.score }
            scored.append((page, ranked))
        }
        scored.sort { ($0.ranked.first?.score ?? 0) > ($1.ranked.first?.score ?? 0) }
        for (page, ranked) in scored {
            let open = ranked.filter { !taken.contains($0.candidate.id) }
            guard let best = open.first, best.score >= minimumScore else {
                // The closest is worth naming only when it shares something with the title.
                let closest = ranked.first.flatMap { $0.score >= 0.3 ? " (closest: “\($0.candidate.name)”, \(String(format: "%.2f", $0.score)))" : nil } ?? ""
                result[page.pageID] = .unmatched(ranked.first.map { taken.contains($0.candidate.id) && $0.score >= minimumScore }
                    == true ? "the video closest to “\(page.title)” is already paired with another lesson\(closest)"
                    : "no video's title is close to “\(page.title)”\(closest)")
                continue
            }
            var rivals = open.filter { $0.score >= minimumScore && best.score - $0.score < Self.tie }
            // Equally close titles: the one in the module's folder, when exactly one is.
            if rivals.count > 1, rivals.count(where: \.inModule) == 1 { rivals = rivals.filter(\.inModule) }
            guard rivals.count == 1, let chosen = rivals.first else {
                result[page.pageID] = .ambiguous(rivals.map(\.candidate))
                continue
            }
            result[page.pageID] = .matched(chosen.candidate, how: chosen.inModule ? "title+module" : "title", score: (chosen.score * 100).rounded() / 100)
            taken.insert(chosen.candidate.id)
        }
        return result
    }

    /// A title as people mean it: no accents, no case, no numbering, no file extension, single spaces.
    static func normalized(_ text: String) -> String {
        var title = text.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: Locale(identifier: "en_US_POSIX"))
        if let dot = title.lastIndex(of: "."), title.distance(from: dot, to: title.endIndex) <= 5,
           title[title.index(after: dot)...].allSatisfy({ $0.isLetter || $0.isNumber }), title[title.index(after: dot)...].contains(where: \.isLetter) {
            title = String(title[..<dot])  // `clase.mp4` → `clase`
        }
        let characters: [Character] = title.map { character in character.isLetter || character.isNumber ? character : " " }
        let words: [String] = characters.split(separator: " ").map { String($0) }
        // Numbering at the start: `aula 03`, `03`, `lesson 3`, `modulo 2 aula 1`, `3 1`.
        let numbering: Set<String> = ["aula", "aulas", "lesson", "leccion", "clase", "class", "video", "modulo", "module", "capitulo", "cap",
                                      "parte", "part", "episodio", "episode", "ep", "n", "no", "nº"]
        var index = 0
        while index < words.count, numbering.contains(words[index]) || words[index].allSatisfy({ $0.isNumber }) { index += 1 }
        let rest = words[index...]
        return (rest.isEmpty ? words[...] : rest).joined(separator: " ")
    }

    static func tokens(_ normalized: String) -> Set<String> { Set(normalized.split(separator: " ").map(String.init)) }

    /// The words of a name or description as an id would be written in it (`[4kq9Xz]`, `page: 4kq9Xz`).
    static func idTokens(_ text: String) -> Set<String> {
        Set(text.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }.map(String.init))
    }

    /// Dice's coefficient of two sets of words: 1 when equal, 0 when they share none.
    static func dice(_ a: Set<String>, _ b: Set<String>) -> Double {
        guard !a.isEmpty || !b.isEmpty else { return 0 }
        return 2 * Double(a.intersection(b).count) / Double(a.count + b.count)
    }
}
