/// A scanner over one line's bytes, for timing lines.
struct LineScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ line: Substring) {
        bytes = Array(line.utf8)
    }

    var atEnd: Bool { position >= bytes.count }
    var current: UInt8? { atEnd ? nil : bytes[position] }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0C { position += 1 }
    }

    /// Consumes `byte` if it is next.
    mutating func take(_ byte: UInt8) -> Bool {
        guard current == byte else { return false }
        position += 1
        return true
    }

    mutating func take(_ text: String) -> Bool {
        let expected = Array(text.utf8)
        guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else { return false }
        position += expected.count
        return true
    }

    /// The digits here: their value (nil past 9 digits: no timestamp has that many) and how many there were.
    mutating func digits() -> (value: Int?, count: Int) {
        var value = 0
        var count = 0
        while let byte = current, (0x30...0x39).contains(byte) {
            if count < 9 { value = value * 10 + Int(byte - 0x30) }
            count += 1
            position += 1
        }
        return (count <= 9 ? value : nil, count)
    }
}

/// A WebVTT timing line: `start --> end [settings]`, timestamps read by the W3C algorithm (settings ignored).
enum WebVTTTiming {
    struct Problem: Error {
        var reason: String
    }

    static func parse(_ line: Substring) -> Result<(start: Double, end: Double), Problem> {
        var scanner = LineScanner(line)
        scanner.skipWhitespace()
        guard let start = timestamp(&scanner) else { return .failure(unreadable(line)) }
        scanner.skipWhitespace()
        guard scanner.take("-->") else { return .failure(unreadable(line)) }
        scanner.skipWhitespace()
        guard let end = timestamp(&scanner) else { return .failure(unreadable(line)) }
        // What follows is cue settings (`align:start position:0%`): they place text on screen, they are not text.
        return .success((start, end))
    }

    private static func unreadable(_ line: Substring) -> Problem {
        Problem(reason: "cannot read the timestamps in '\(line.trimmingSpaces())' (expected 00:01:02.500 --> 00:01:05.000)")
    }

    /// "Collect a WebVTT timestamp": `[hours:]minutes:seconds.milliseconds`, hours when the first field has
    /// more than two digits or exceeds 59, minutes and seconds two digits each (at most 59), three digits of
    /// milliseconds after a full stop.
    static func timestamp(_ scanner: inout LineScanner) -> Double? {
        let first = scanner.digits()
        guard first.count > 0, let value1 = first.value else { return nil }
        let hoursFirst = first.count != 2 || value1 > 59
        guard scanner.take(0x3A) else { return nil }
        let second = scanner.digits()
        guard second.count == 2, let value2 = second.value else { return nil }
        var hours = 0, minutes = value1, seconds = value2
        if hoursFirst || scanner.current == 0x3A {
            guard scanner.take(0x3A) else { return nil }
            let third = scanner.digits()
            guard third.count == 2, let value3 = third.value else { return nil }
            (hours, minutes, seconds) = (value1, value2, value3)
        }
        guard scanner.take(0x2E) else { return nil }
        let fraction = scanner.digits()
        guard fraction.count == 3, let milliseconds = fraction.value, minutes <= 59, seconds <= 59 else { return nil }
        return Double(hours * 3600 + minutes * 60 + seconds) + Double(milliseconds) / 1000
    }
}

/// A SubRip timing line as exporters write it: `00:01:02,500 --> 00:01:05,000`, also with `.` before the
/// milliseconds, one or two digits of them, missing hours, or display coordinates after (`X1:…`).
enum SubRipTiming {
    static func parse(_ line: Substring) -> (start: Double, end: Double)? {
        var scanner = LineScanner(line)
        scanner.skipWhitespace()
        guard let start = timestamp(&scanner) else { return nil }
        scanner.skipWhitespace()
        guard scanner.take("-->") else { return nil }
        scanner.skipWhitespace()
        guard let end = timestamp(&scanner) else { return nil }
        return (start, end)
    }

    static func timestamp(_ scanner: inout LineScanner) -> Double? {
        var fields: [Int] = []
        repeat {
            let field = scanner.digits()
            guard field.count > 0, let value = field.value else { return nil }
            fields.append(value)
        } while scanner.take(0x3A)
        guard (2...3).contains(fields.count), fields.dropFirst().allSatisfy({ $0 <= 59 }) else { return nil }
        var seconds = Double(fields.reduce(0) { $0 * 60 + $1 })
        if scanner.take(0x2C) || scanner.take(0x2E) {
            let fraction = scanner.digits()
            guard (1...3).contains(fraction.count), let value = fraction.value else { return nil }
            seconds += Double(value) / [10.0, 100.0, 1000.0][fraction.count - 1]
        }
        return seconds
    }
}

/// YouTube's SBV timing line: `0:00:01.000,0:00:04.000`.
enum SBVTiming {
    static func parse(_ line: Substring) -> (start: Double, end: Double)? {
        var scanner = LineScanner(line)
        scanner.skipWhitespace()
        guard let start = timestamp(&scanner), scanner.take(0x2C), let end = timestamp(&scanner) else { return nil }
        scanner.skipWhitespace()
        return scanner.atEnd ? (start, end) : nil
    }

    static func timestamp(_ scanner: inout LineScanner) -> Double? {
        let hours = scanner.digits()
        guard hours.count > 0, let h = hours.value, scanner.take(0x3A) else { return nil }
        let minutes = scanner.digits()
        guard minutes.count == 2, let m = minutes.value, m <= 59, scanner.take(0x3A) else { return nil }
        let seconds = scanner.digits()
        guard seconds.count == 2, let s = seconds.value, s <= 59, scanner.take(0x2E) else { return nil }
        let fraction = scanner.digits()
        guard fraction.count == 3, let ms = fraction.value else { return nil }
        return Double(h * 3600 + m * 60 + s) + Double(ms) / 1000
    }
}
