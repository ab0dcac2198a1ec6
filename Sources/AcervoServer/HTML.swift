import Foundation

/// HTML text built by the dashboard. Everything that comes from the store or the course (titles, errors,
/// item ids) enters through `escaped`, so a lesson titled `<script>` is shown, never run.
struct HTML: ExpressibleByStringInterpolation, Sendable {
    private(set) var text: String

    init(raw text: String) { self.text = text }
    /// Text shown as it is, escaped.
    init(text value: some CustomStringConvertible) { text = HTML.escaped(value.description) }
    init(stringLiteral value: String) { text = value }

    struct StringInterpolation: StringInterpolationProtocol {
        var text = ""
        init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }
        mutating func appendLiteral(_ literal: String) { text += literal }
        /// Values are escaped…
        mutating func appendInterpolation(_ value: some CustomStringConvertible) { text += HTML.escaped(value.description) }
        /// …HTML already built is not.
        mutating func appendInterpolation(_ html: HTML) { text += html.text }
        mutating func appendInterpolation(_ parts: [HTML]) { for part in parts { text += part.text } }
    }

    init(stringInterpolation: StringInterpolation) { text = stringInterpolation.text }

    static func escaped(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A value for a URL's query.
    static func query(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#?/")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// The frame around every page: navigation, a style that reads on a phone, no script needed.
func page(_ title: String, refreshSeconds: Int? = nil, _ body: HTML) -> HTML {
    let refresh: HTML = refreshSeconds.map { HTML(raw: "<meta http-equiv=\"refresh\" content=\"\($0)\">") } ?? ""
    return """
        <!doctype html>
        <html lang="pt-BR"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">\(refresh)
        <title>\(title) · Acervo</title>
        <style>
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
        header{background:#1d2430;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.2rem 1rem;align-items:center}
        header a{color:#cfe0ff;text-decoration:none}header strong{margin-right:.5rem}
        main{max-width:72rem;margin:0 auto;padding:1rem}
        section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem}
        h1{font-size:1.3rem;margin:.2rem 0 1rem;overflow-wrap:anywhere}h2{font-size:1.05rem;margin:.1rem 0 .6rem}
        table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #eceff3;vertical-align:top}
        .scroll{overflow-x:auto}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        td.text{overflow-wrap:anywhere;min-width:14rem}
        .ok{color:#1a7f37}.failed,.error{color:#c62828}.budget,.interrupted,.running{color:#9a6700}
        code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
        code.id{white-space:nowrap}
        .figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.6rem}
        .figure .muted{display:block}.figure b{display:block;font-size:1.25rem}.muted{color:#5b6573}
        .warning{background:#fff4e5;border-color:#f0c36d}
        form.inline{display:inline}button{font:inherit;padding:.35rem .8rem;border-radius:5px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff}
        input[type=search],input[type=text],select{font:inherit;padding:.3rem;max-width:100%}input[type=search]{width:min(30rem,100%)}
        .document{white-space:normal}.document pre{white-space:pre-wrap;background:#f6f7f9;padding:.5rem}
        .legend span{display:inline-block;margin-right:1rem;white-space:nowrap}.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem}
        @media (max-width:40rem){table.stack thead{display:none}table.stack tr{display:block;border-bottom:1px solid #dde1e7;padding:.3rem 0}
        table.stack td{display:inline-block;border:0;padding:.1rem .4rem}table.stack td.text{display:block;min-width:0}table.stack td.num{text-align:left}}
        ul.problems{padding-left:1.2rem}ul.problems li{margin:.4rem 0;overflow-wrap:anywhere}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dl.facts dt{color:#5b6573}dl.facts dd{margin:0;overflow-wrap:anywhere}
        </style></head>
        <body><header><strong>Acervo</strong><a href="/">Overview</a><a href="/runs">Runs</a><a href="/kb">Knowledge base</a>\
        <a href="/snapshots">Snapshots</a><a href="/media">Media</a><a href="/cost">Cost</a><a href="/cache">Cache</a><a href="/search">Search</a></header>
        <main><h1>\(title)</h1>
        \(body)
        </main></body></html>
        """
}

/// Dollars for people: cents, or fractions of a cent when small.
func usd(_ value: Double) -> String {
    value == 0 ? "$0" : value < 0.01 ? String(format: "$%.4f", value) : String(format: "$%.2f", value)
}

/// Times as the team reads them: in the schedule's time zone (UTC without a schedule), with its offset —
/// `2026-12-07 03:00:12 −03:00`.
struct TimeDisplay: Sendable {
    var timeZone: TimeZone

    func callAsFunction(_ date: Date?) -> String {
        guard let date else { return "—" }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = timeZone.secondsFromGMT(for: date) / 60
        let zone = offset == 0 ? "UTC" : String(format: "%@%02d:%02d", offset < 0 ? "−" : "+", abs(offset) / 60, abs(offset) % 60)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0) + zone
    }
}

func seconds(_ value: Double) -> String {
    value < 90 ? String(format: "%.1f s", value) : value < 5400 ? String(format: "%.1f min", value / 60) : String(format: "%.1f h", value / 3600)
}

/// A digest as a person scans it: its first twelve hex digits, the whole digest in the tooltip; never broken
/// across lines.
func shortDigest(_ digest: String) -> HTML {
    let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
    return "<code class=\"id\" title=\"\(digest)\">\(String(hex.prefix(12)))…</code>"
}

/// A run id, whole and on one line, linking to its page.
func runLink(_ id: String) -> HTML {
    "<a href=\"/runs/\(HTML.query(id))\"><code class=\"id\">\(id)</code></a>"
}

/// `1 build`, `2 builds`.
func counted(_ count: Int, _ singular: String, _ plural: String? = nil) -> String {
    "\(count) " + (count == 1 ? singular : plural ?? singular + "s")
}
