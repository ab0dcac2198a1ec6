import Foundation
import Yams

/// When `acervo serve` builds on its own (`schedule:` in pipeline.yaml): every day at a time, or at the times
/// a cron expression names, in a time zone — `{ daily: "03:00", timezone: America/Sao_Paulo }` or
/// `{ cron: "30 2 * * 1-5", timezone: UTC }`.
///
/// Times are wall-clock times in the zone: a time that a daylight-saving jump skips runs at the first minute
/// after the jump, a time that happens twice (clocks set back) runs once, at its first occurrence.
public struct ScheduleSettings: Sendable, Equatable {
    public var times: CronExpression
    public var timeZone: TimeZone
    /// A failed night is retried once, this long after it failed (`retry_after_minutes`, default 30).
    public var retryAfterSeconds: Double
    /// For people: `every day at 03:00 America/Sao_Paulo`, or `cron 30 2 * * 1-5 UTC`.
    public var summary: String

    public init(times: CronExpression, timeZone: TimeZone, retryAfterSeconds: Double = 30 * 60, summary: String? = nil) {
        self.times = times
        self.timeZone = timeZone
        self.retryAfterSeconds = retryAfterSeconds
        self.summary = summary ?? "cron \(times) \(timeZone.identifier)"
    }

    /// `date` as the schedule's zone shows it: `2026-11-27 03:00 America/Sao_Paulo`.
    public func localTime(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0, parts.minute ?? 0)
            + timeZone.identifier
    }

    /// The first scheduled time strictly after `date`; nil only for an expression that never matches (e.g.
    /// February 30th), which the loader refuses.
    public func nextRun(after date: Date) -> Date? {
        let calendar = self.calendar
        // Whole minutes: the first candidate is the minute after `date`.
        let start = calendar.dateInterval(of: .minute, for: date)!.start
        var day = calendar.startOfDay(for: start)
        for _ in 0..<Self.searchDays {
            if let time = times(on: day, calendar: calendar).first(where: { $0 > date }) { return time }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
            day = calendar.startOfDay(for: day)
        }
        return nil
    }

    /// The last scheduled time at or before `date` (the night that should already have run).
    public func previousRun(atOrBefore date: Date) -> Date? {
        let calendar = self.calendar
        var day = calendar.startOfDay(for: date)
        for _ in 0..<Self.searchDays {
            if let time = times(on: day, calendar: calendar).last(where: { $0 <= date }) { return time }
            day = calendar.startOfDay(for: calendar.date(byAdding: .day, value: -1, to: day)!)
        }
        return nil
    }

    /// Days and wall-clock times in the schedule's zone.
    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    /// Long enough for any valid expression to match (Feb 29 on a given weekday repeats within 28 years).
    static let searchDays = 366 * 29

    /// The scheduled instants of one local day, in order.
    func times(on day: Date, calendar: Calendar) -> [Date] {
        let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
        guard let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday,
              self.times.matches(month: month, dayOfMonth: dayOfMonth, dayOfWeek: weekday - 1) else { return [] }
        var instants: [Date] = []
        for hour in self.times.hours.sorted() {
            for minute in self.times.minutes.sorted() {
                var wanted = parts
                wanted.weekday = nil
                wanted.hour = hour
                wanted.minute = minute
                wanted.second = 0
                guard let instant = calendar.date(from: wanted) else { continue }
                // A skipped local time lands after the jump; one that happens twice is taken once.
                if instants.last.map({ $0 < instant }) ?? true { instants.append(instant) }
            }
        }
        return instants
    }
}

/// A five-field cron expression (minute, hour, day of month, month, day of week; `*`, lists, ranges and
/// steps; names of months and days; 0 or 7 for Sunday), with cron's rule that when both day fields are
/// restricted a day matching either runs.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public var minutes: Set<Int>
    public var hours: Set<Int>
    public var daysOfMonth: Set<Int>
    public var months: Set<Int>
    /// 0 = Sunday.
    public var daysOfWeek: Set<Int>
    var dayOfMonthRestricted: Bool
    var dayOfWeekRestricted: Bool
    public let description: String

    /// Every day at `hour:minute`.
    public static func daily(hour: Int, minute: Int) -> CronExpression {
        CronExpression(minutes: [minute], hours: [hour], description: "\(minute) \(hour) * * *")
    }

    private init(minutes: Set<Int>, hours: Set<Int>, description: String) {
        self.minutes = minutes
        self.hours = hours
        daysOfMonth = Set(1...31)
        months = Set(1...12)
        daysOfWeek = Set(0...6)
        dayOfMonthRestricted = false
        dayOfWeekRestricted = false
        self.description = description
    }

    public init(parsing text: String) throws(CronError) {
        let fields = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else {
            throw CronError("a cron expression has five fields (minute hour day-of-month month day-of-week), this one has \(fields.count)")
        }
        minutes = try Self.field(fields[0], "minute", 0...59)
        hours = try Self.field(fields[1], "hour", 0...23)
        daysOfMonth = try Self.field(fields[2], "day of month", 1...31)
        months = try Self.field(fields[3], "month", 1...12, names: Self.monthNames, firstName: 1)
        let weekdays = try Self.field(fields[4], "day of week", 0...7, names: Self.dayNames, firstName: 0)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
        description = fields.joined(separator: " ")
        if !months.contains(where: { month in daysOfMonth.contains { $0 <= Self.longestMonth[month - 1] } }), !dayOfWeekRestricted {
            throw CronError("`\(description)` never runs: no chosen month has the chosen days")
        }
    }

    func matches(month: Int, dayOfMonth: Int, dayOfWeek: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(dayOfMonth) || daysOfWeek.contains(dayOfWeek)
        default: return daysOfMonth.contains(dayOfMonth) && daysOfWeek.contains(dayOfWeek)
        }
    }

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    static let longestMonth = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    private static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String] = [], firstName: Int = 0)
        throws(CronError) -> Set<Int> {
        func value(_ part: Substring) throws(CronError) -> Int {
            if let index = names.firstIndex(of: part.lowercased()) { return index + firstName }
            guard let number = Int(part), range.contains(number) else {
                throw CronError("\(name) `\(part)` is not a number from \(range.lowerBound) to \(range.upperBound)"
                    + (names.isEmpty ? "" : " or a name (\(names.prefix(3).joined(separator: ", ")), …)"))
            }
            return number
        }
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !pieces[0].isEmpty else { throw CronError("\(name) `\(item)` is not a value, a range or a step") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed >= 1 else { throw CronError("the step in \(name) `\(item)` must be a whole number from 1") }
                step = parsed
            }
            let bounds: ClosedRange<Int>
            if pieces[0] == "*" {
                bounds = range
            } else if let dash = pieces[0].firstIndex(of: "-") {
                let low = try value(pieces[0][..<dash]), high = try value(pieces[0][pieces[0].index(after: dash)...])
                guard low <= high else { throw CronError("the range in \(name) `\(item)` runs backwards") }
                bounds = low...high
            } else {
                let single = try value(pieces[0])
                bounds = single...(pieces.count == 2 ? range.upperBound : single)
            }
            values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return values
    }
}

/// A cron expression that cannot be read; the rules loader adds where it is.
public struct CronError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Context {
    func schedule(_ node: Node) throws(RulesError) -> ScheduleSettings {
        let fields = try settings(node, "`schedule`", allowed: ["daily", "cron", "timezone", "retry_after_minutes"])
        let zoneName = try string(fields["timezone"], "timezone") ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else {
            throw RulesError("unknown time zone `\(zoneName)`", at: location(fields["timezone"]!.value),
                             fix: "use an IANA name such as America/Sao_Paulo, Europe/Madrid or UTC")
        }
        let times: CronExpression
        switch (fields["daily"], fields["cron"]) {
        case (let daily?, nil):
            times = try dailyTime(daily.value)
        case (nil, let cron?):
            guard let text = try string(cron, "cron") else { throw RulesError("`cron` must be a text", at: location(cron.value)) }
            do { times = try CronExpression(parsing: text) } catch {
                throw RulesError("schedule.cron: \(error)", at: location(cron.value), fix: "e.g. `cron: \"0 3 * * *\"` (03:00 every day)")
            }
        case (.some, .some):
            throw RulesError("`schedule` has both `daily` and `cron`", at: location(node), fix: "keep one of them")
        case (nil, nil):
            throw RulesError("`schedule` says no time", at: location(node), fix: "write `schedule: { daily: \"03:00\", timezone: \(zoneName) }`")
        }
        let retry = try number(fields["retry_after_minutes"], "retry_after_minutes", in: 1...1440) ?? 30
        let summary = fields["daily"] != nil
            ? String(format: "every day at %02d:%02d %@", times.hours.first ?? 0, times.minutes.first ?? 0, zone.identifier)
            : "cron \(times) \(zone.identifier)"
        return ScheduleSettings(times: times, timeZone: zone, retryAfterSeconds: retry * 60, summary: summary)
    }

    /// `HH:MM`. YAML 1.1 reads an unquoted `03:00` as the sexagesimal number 180, so the scalar's text is
    /// read as written.
    private func dailyTime(_ node: Node) throws(RulesError) -> CronExpression {
        let text = node.scalar?.string ?? ""
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...23).contains(hour), (0...59).contains(minute) else {
            throw RulesError("`daily` must be a time of day as HH:MM, not `\(text)`", at: location(node), fix: "e.g. `daily: \"03:00\"`")
        }
        return .daily(hour: hour, minute: minute)
    }
}
