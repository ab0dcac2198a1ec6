import Foundation
/// The text shown on a lesson's keyframes (`tesseract`, `google.vision`): each frame's text in time order,
/// kept once while consecutive frames repeat it (a slide stays on screen for many frames). Stored as plain
/// UTF-8, passages separated by a blank line — what a person or a search index reads as is.
public struct ScreenText: Sendable, Equatable {
    public var text: String

    /// Passages from frames' texts, in time order.
    public init(frameTexts: [String]) {
        var passages: [String] = []
        for text in frameTexts where !text.isEmpty && passages.last != text { passages.append(text) }
        text = passages.joined(separator: "\n\n")
    }

    public init(decoding bytes: [UInt8]) {
        text = String(decoding: bytes, as: UTF8.self)
    }

    public func encoded() -> [UInt8] { Array(text.utf8) }

    /// One frame's text as a reader reported it, tidied: lines trimmed, empty lines dropped.
    public static func tidy(frame raw: String) -> String {
        raw.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "\n")
    }
}
