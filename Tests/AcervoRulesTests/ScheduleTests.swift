import Foundation
import Testing
@testable import AcervoRules

/// `schedule:` — a daily time or a cron expression in a time zone, and the instants it names.
@Suite struct ScheduleTests {
    let catalog = [ProcessorDescriptor(id: "document.markdown", version: "1.0", inputs: [InputSlot("meta")])]
    let rules = """
        rules:
          document: { processor: document.markdown@1, inputs: { meta: metadata } }

        """

    private func parse(_ yaml: String) throws(RulesError) -> Pipeline {
        try RulesLoader(catalog: catalog, sourceArtifacts: ["metadata"]).parse(rules + yaml, file: "pipeline.yaml", directory: "/project/rules")
    }

    private func failure(_ yaml: String) -> RulesError? {
        do { _ = try parse(yaml); return nil } catch { return error }
    }

    /// An instant written as a UTC ISO 8601 text.
    private func utc(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test func `a daily time in a zone becomes the next and previous night`() throws {
        // Unquoted on purpose: YAML 1.1 would read 03:00 as the number 180.
        let schedule = try #require(try parse("schedule: { daily: 03:00, timezone: America/Sao_Paulo }\n").schedule)
        #expect(schedule.timeZone.identifier == "America/Sao_Paulo")
        #expect(schedule.retryAfterSeconds == 1800)
        // São Paulo is UTC−3 (no daylight saving since 2019): 03:00 there is 06:00 UTC.
        #expect(schedule.nextRun(after: utc("2026-11-26T05:59:59Z")) == utc("2026-11-26T06:00:00Z"))
        #expect(schedule.nextRun(after: utc("2026-11-26T06:00:00Z")) == utc("2026-11-27T06:00:00Z"))
        #expect(schedule.previousRun(atOrBefore: utc("2026-11-26T06:00:00Z")) == utc("2026-11-26T06:00:00Z"))
        #expect(schedule.previousRun(atOrBefore: utc("2026-11-26T05:00:00Z")) == utc("2026-11-25T06:00:00Z"))
    }

    @Test func `a time that daylight saving skips runs after the jump, and a repeated time runs once`() throws {
        let schedule = try #require(try parse("schedule: { daily: \"02:30\", timezone: Europe/Madrid }\n").schedule)
        // 29 March 2026: Madrid's clocks go from 02:00 to 03:00 (01:00 UTC); 02:30 does not exist that night.
        let spring = try #require(schedule.nextRun(after: utc("2026-03-28T12:00:00Z")))
        #expect(spring == utc("2026-03-29T01:00:00Z") || spring == utc("2026-03-29T01:30:00Z"))
        #expect(schedule.nextRun(after: spring) == utc("2026-03-30T00:30:00Z"))
        // 25 October 2026: 03:00 goes back to 02:00, so 02:30 happens twice; the night runs at the first.
        let autumn = try #require(schedule.nextRun(after: utc("2026-10-24T12:00:00Z")))
        #expect(autumn == utc("2026-10-25T00:30:00Z"))
        #expect(schedule.nextRun(after: autumn) == utc("2026-10-26T01:30:00Z"))
    }

    @Test func `cron expressions: lists, ranges, steps, names, and either day field`() throws {
        let weekdays = try CronExpression(parsing: "0,30 9-17/4 * * mon-fri")
        #expect(weekdays.minutes == [0, 30])
        #expect(weekdays.hours == [9, 13, 17])
        #expect(weekdays.daysOfWeek == [1, 2, 3, 4, 5])
        let schedule = ScheduleSettings(times: weekdays, timeZone: TimeZone(identifier: "UTC")!)
        // Friday 27 November 2026, 17:30 → Monday 30 November, 09:00.
        #expect(schedule.nextRun(after: utc("2026-11-27T17:30:00Z")) == utc("2026-11-30T09:00:00Z"))
        // Sunday is 0 or 7; with both day fields restricted, either matches (the 1st, or a Sunday).
        let either = ScheduleSettings(times: try CronExpression(parsing: "0 3 1 * 7"), timeZone: TimeZone(identifier: "UTC")!)
        #expect(either.nextRun(after: utc("2026-11-26T00:00:00Z")) == utc("2026-11-29T03:00:00Z"))
        #expect(either.nextRun(after: utc("2026-11-29T03:00:00Z")) == utc("2026-12-01T03:00:00Z"))
        let leap = ScheduleSettings(times: try CronExpression(parsing: "0 0 29 feb *"), timeZone: TimeZone(identifier: "UTC")!)
        #expect(leap.nextRun(after: utc("2026-11-26T00:00:00Z")) == utc("2028-02-29T00:00:00Z"))
    }

    @Test func `a malformed schedule is a rules error with its line`() throws {
        let cases: [(yaml: String, message: String, fix: String?)] = [
            ("schedule: { daily: \"25:00\" }\n", "`daily` must be a time of day as HH:MM, not `25:00`", "e.g. `daily: \"03:00\"`"),
            ("schedule: { daily: \"03:00\", timezone: America/Sao_Pablo }\n", "unknown time zone `America/Sao_Pablo`",
             "use an IANA name such as America/Sao_Paulo, Europe/Madrid or UTC"),
            ("schedule: { cron: \"0 3 * *\" }\n",
             "schedule.cron: a cron expression has five fields (minute hour day-of-month month day-of-week), this one has 4",
             "e.g. `cron: \"0 3 * * *\"` (03:00 every day)"),
            ("schedule: { cron: \"0 3 31 feb *\" }\n", "schedule.cron: `0 3 31 feb *` never runs: no chosen month has the chosen days",
             "e.g. `cron: \"0 3 * * *\"` (03:00 every day)"),
            ("schedule: { cron: \"0 27 * * *\" }\n", "schedule.cron: hour `27` is not a number from 0 to 23", "e.g. `cron: \"0 3 * * *\"` (03:00 every day)"),
            ("schedule: { daily: \"03:00\", cron: \"0 3 * * *\" }\n", "`schedule` has both `daily` and `cron`", "keep one of them"),
            ("schedule: { timezone: UTC }\n", "`schedule` says no time", "write `schedule: { daily: \"03:00\", timezone: UTC }`"),
            ("schedule: { daily: \"03:00\", dayly: \"04:00\" }\n", "`schedule`: unknown setting `dayly`", "did you mean `daily`?"),
            ("schedule: { daily: \"03:00\", retry_after_minutes: 0 }\n", "`retry_after_minutes` must be a number from 1 to 1440", nil),
        ]
        for (yaml, message, fix) in cases {
            let error = try #require(failure(yaml), "accepted: \(yaml)")
            #expect(error.location?.file == "pipeline.yaml")
            #expect(error.location?.line == 3, "\(yaml)")
            #expect(error.message == message)
            #expect(error.fix == fix)
        }
    }

    @Test func `no schedule means builds only when asked`() throws {
        #expect(try parse("").schedule == nil)
    }
}

/// `notify:` — channels named by the variables that hold their secrets, and the events that trigger them.
@Suite struct NotifySettingsTests {
    let catalog = [ProcessorDescriptor(id: "document.markdown", version: "1.0", inputs: [InputSlot("meta")])]

    private func parse(_ yaml: String) throws(RulesError) -> Pipeline {
        try RulesLoader(catalog: catalog, sourceArtifacts: ["metadata"]).parse("""
            rules:
              document: { processor: document.markdown@1, inputs: { meta: metadata } }

            """ + yaml, file: "pipeline.yaml", directory: "/project/rules")
    }

    private func failure(_ yaml: String) -> RulesError? {
        do { _ = try parse(yaml); return nil } catch { return error }
    }

    @Test func `slack and e-mail become typed settings with the default events`() throws {
        let notify = try #require(try parse("""
            notify:
              slack: { webhook: TEAM_SLACK_URL }
              email: { to: [equipe@example.com, "suporte@example.com.br"], from: acervo@example.com }
              dashboard_url: https://acervo.example.com/
            """).notify)
        #expect(notify.events == [.failure, .budget, .shrink])
        #expect(notify.slack == NotifySettings.Slack(webhookVariable: "TEAM_SLACK_URL"))
        #expect(notify.email == NotifySettings.Email(to: ["equipe@example.com", "suporte@example.com.br"], from: "acervo@example.com"))
        #expect(notify.dashboardURL == "https://acervo.example.com")
        #expect(try parse("notify: { on: [summary, failure], slack: {} }\n").notify?.events == [.summary, .failure])
    }

    @Test func `a malformed notify block is a rules error with its line`() throws {
        let cases: [(yaml: String, line: Int, message: String, fix: String?)] = [
            ("notify: { on: [failures], slack: {} }\n", 3, "unknown notify event `failures`", "did you mean `failure`?"),
            ("notify: { slack: { webhook: \"https://hooks.slack.com/services/T0/B0/abc\" } }\n", 3,
             "`webhook` names the environment variable that holds the secret, not the secret itself",
             "e.g. `webhook: SLACK_WEBHOOK_URL`, and set that variable where the service runs"),
            ("notify: { email: { to: [equipe], from: a@b.co } }\n", 3, "`equipe` is not an e-mail address", "write it as name@domain"),
            ("notify: { email: { to: [a@b.co] } }\n", 3, "`notify.email` needs `from`", "e.g. `from: acervo@example.com`"),
            ("notify: { on: [failure] }\n", 3, "`notify` names no channel",
             "add `slack: { webhook: SLACK_WEBHOOK_URL }` or `email: { to: [...], from: ... }`"),
            ("notify:\n  slack: {}\n  sms: {}\n", 5, "`notify`: unknown setting `sms`", "allowed: on, slack, email, dashboard_url"),
            ("notify: { slack: {}, dashboard_url: acervo.local }\n", 3, "`dashboard_url` must be an http(s) address",
             "e.g. `dashboard_url: https://acervo.example.com`"),
        ]
        for (yaml, line, message, fix) in cases {
            let error = try #require(failure(yaml), "accepted: \(yaml)")
            #expect(error.location?.line == line, "\(yaml)")
            #expect(error.message == message)
            #expect(error.fix == fix)
        }
    }
}
