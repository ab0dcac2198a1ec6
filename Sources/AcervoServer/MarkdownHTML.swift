import Foundation

/// A lesson's Markdown document as HTML, for reading on the dashboard: headings, lists, fenced code and
/// paragraphs — the shapes `document.markdown` writes. Everything is escaped; no raw HTML passes through.
enum MarkdownHTML {
    static func render(_ markdown: String) -> HTML {
        let (facts, body) = frontMatter(markdown)
        return (facts.isEmpty ? "" : table(facts)) + renderBody(body)
    }

    /// The document's front matter (`---` lines around `key: "value"` lines) as rows, and the rest.
    static func frontMatter(_ markdown: String) -> (facts: [(String, String)], body: String) {
        guard markdown.hasPrefix("---\n") else { return ([], markdown) }
        var lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        var facts: [(String, String)] = []
        while let line = lines.first, line != "---" {
            lines.removeFirst()
            guard let colon = line.firstIndex(of: ":") else { continue }
            var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), let decoded = try? JSONDecoder().decode(String.self, from: Data(value.utf8)) { value = decoded }
            facts.append((String(line[..<colon]), value))
        }
        guard lines.first == "---" else { return ([], markdown) }
        return (facts, lines.dropFirst().joined(separator: "\n"))
    }

    /// Front matter as a two-column table: a field a row.
    static func table(_ facts: [(String, String)]) -> HTML {
        "<table class=\"front-matter\"><tbody>\(facts.map { HTML("<tr><th>\($0.0.replacingOccurrences(of: "_", with: " "))</th><td>\($0.1)</td></tr>") })</tbody></table>\n"
    }

    private static func renderBody(_ markdown: String) -> HTML {
        var out: [HTML] = []
        var paragraph: [String] = []
        var list: [String] = []
        var code: [String]?

        func flush() {
            if !paragraph.isEmpty {
                out.append("<p>\(paragraph.joined(separator: " "))</p>\n")
                paragraph = []
            }
            if !list.isEmpty {
                out.append("<ul>\(list.map { HTML("<li>\($0)</li>") })</ul>\n")
                list = []
            }
        }

        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if var lines = code {
                if line.hasPrefix("```") {
                    out.append("<pre><code>\(lines.joined(separator: "\n"))</code></pre>\n")
                    code = nil
                } else {
                    lines.append(line)
                    code = lines
                }
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                flush()
                code = []
            } else if let level = heading(trimmed) {
                flush()
                let text = trimmed.dropFirst(level).trimmingCharacters(in: .whitespaces)
                out.append(HTML(raw: "<h\(level + 1)>") + "\(text)" + HTML(raw: "</h\(level + 1)>\n"))
            } else if trimmed.hasPrefix("- ") || trimmed.hasPrefix("* ") {
                if !paragraph.isEmpty { flush() }
                list.append(String(trimmed.dropFirst(2)))
            } else if trimmed.isEmpty {
                flush()
            } else {
                if !list.isEmpty { flush() }
                paragraph.append(trimmed)
            }
        }
        if let lines = code { out.append("<pre><code>\(lines.joined(separator: "\n"))</code></pre>\n") }
        flush()
        return "\(out)"
    }

    /// The level of a `#` heading (1–5), or nil.
    private static func heading(_ line: String) -> Int? {
        let hashes = line.prefix { $0 == "#" }.count
        guard (1...5).contains(hashes), line.dropFirst(hashes).first == " " else { return nil }
        return hashes
    }
}

extension HTML {
    static func + (lhs: HTML, rhs: HTML) -> HTML { HTML(raw: lhs.text + rhs.text) }
}
