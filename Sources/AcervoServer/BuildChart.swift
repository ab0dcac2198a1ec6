import AcervoEngine
import AcervoStore
import Foundation

/// The last builds as an inline SVG bar chart (no script): one bar per build, as tall as the actions it
/// executed, coloured by how it ended; what each cost as a line of dots when anything cost money. The legend
/// and the dates are HTML under the chart, so they read on a phone, and use the bars' own colours.
struct BuildChart {
    var runs: [Run]
    var time: TimeDisplay

    /// Colours by outcome, shared by the bars and the legend.
    static let colours: [(status: RunStatus, label: String, fill: String)] = [
        (.ok, "ok", "#2f5bd3"), (.failed, "failed", "#c62828"), (.interrupted, "interrupted", "#d79b00"), (.budget, "budget reached", "#8e44ad"),
        (.error, "could not run", "#6b7280"), (.running, "running", "#99a1ad"),
    ]
    static let costColour = "#1a7f37"

    static func colour(_ status: RunStatus) -> String { colours.first { $0.status == status }?.fill ?? "#99a1ad" }

    var html: HTML {
        guard !runs.isEmpty else { return "<p class=\"muted\">No builds yet.</p>" }
        let summaries = runs.map(\.buildSummary)
        let executed = summaries.map { $0?.executed ?? 0 }
        let costs = summaries.map { $0?.costUSD ?? 0 }
        let tallest = max(executed.max() ?? 0, 1)
        let costliest = costs.max() ?? 0
        let width = 600.0, height = 140.0, floor = 4.0, slot = width / Double(max(runs.count, 1))
        var shapes: [HTML] = []
        for (index, run) in runs.enumerated() {
            // Every build gets a bar, even one that executed nothing or could not start.
            let barHeight = max(floor, Double(executed[index]) / Double(tallest) * (height - 10))
            let title = "\(run.id) · \(time(run.startedAt)) · \(run.status.rawValue) · \(executed[index]) executed · \(usd(costs[index]))"
            let barWidth = min(slot * 0.7, 40)
            shapes.append(HTML(raw: String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\">",
                                           Double(index) * slot + (slot - barWidth) / 2, height - barHeight, barWidth, barHeight, Self.colour(run.status)))
                          + "<title>\(title)</title></rect>")
        }
        if costliest > 0 {
            let points = costs.enumerated().map { index, cost in
                (Double(index) * slot + slot / 2, height - 6 - cost / costliest * (height - 16))
            }
            shapes.append(HTML(raw: "<polyline fill=\"none\" stroke=\"\(Self.costColour)\" stroke-width=\"2\" points=\""
                               + points.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ") + "\"/>"))
            for (index, point) in points.enumerated() {
                shapes.append(HTML(raw: String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%@\">", point.0, point.1, Self.costColour))
                              + "<title>\(runs[index].id): \(usd(costs[index]))</title></circle>")
            }
        }
        let present = Set(runs.map(\.status))
        var legend: [HTML] = Self.colours.filter { present.contains($0.status) }.map { entry in
            "<span><i class=\"swatch\" style=\"background:\(entry.fill)\"></i>\(entry.label)</span>"
        }
        legend.append("<span class=\"muted\">bar height: actions executed (tallest \(tallest))</span>")
        if costliest > 0 {
            legend.append("<span><i class=\"swatch\" style=\"background:\(Self.costColour)\"></i>cost (highest \(usd(costliest)))</span>")
        } else {
            legend.append("<span class=\"muted\">nothing cost money</span>")
        }
        return """
            <svg viewBox="0 0 600 140" width="100%" height="140" preserveAspectRatio="none" role="img" \
            aria-label="Actions executed and cost of the last builds">\(shapes)<line x1="0" y1="140" x2="600" y2="140" stroke="#99a1ad"/></svg>
            <p class="muted" style="display:flex;justify-content:space-between;margin:.2rem 0"><span>\(time(runs.first?.startedAt))</span>\
            <span>\(time(runs.last?.startedAt))</span></p>
            <p class="legend">\(legend)</p>
            """
    }
}
