import Foundation

/// Language codes as BCP-47 writes them (`es`, `pt-BR`, `zh-Hant`), whatever a provider or a course file says:
/// Whisper answers `spanish`, Speech-to-Text `es-es`, a hand-written lesson `pt_BR`. One spelling per
/// language keeps the knowledge base's `language` attribute filterable.
public enum LanguageTag {
    /// The tag in BCP-47 form: a language name or a three-letter code becomes its two-letter code, the
    /// language subtag lower case, a script title case, a region upper case. Text that is not a tag is
    /// returned trimmed, lower case; empty text is `und`.
    public static func normalized(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if trimmed.isEmpty { return "und" }
        if let code = names[trimmed] ?? threeLetter[trimmed] { return code }
        let parts = trimmed.replacingOccurrences(of: "_", with: "-").split(separator: "-").map(String.init)
        guard let first = parts.first, (2...3).contains(first.count), first.allSatisfy(\.isLetter) else { return trimmed }
        var tag = [threeLetter[first] ?? first]
        for part in parts.dropFirst() {
            switch part.count {
            case 2 where part.allSatisfy(\.isLetter): tag.append(part.uppercased())
            case 4 where part.allSatisfy(\.isLetter): tag.append(part.prefix(1).uppercased() + part.dropFirst())
            default: tag.append(part)
            }
        }
        return tag.joined(separator: "-")
    }

    /// Whether `text` is written as a BCP-47 tag (`es`, `pt-BR`, `zh-Hant-TW`, `es-419`), in any case: a
    /// language name (`spanish`) or a three-letter code is not.
    public static func isWellFormed(_ text: String) -> Bool {
        let parts = text.replacingOccurrences(of: "_", with: "-").split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, first.count == 2 || (first.count == 3 && threeLetter[first.lowercased()] == nil),
              first.allSatisfy({ $0.isASCII && $0.isLetter }), !text.contains("_") else { return false }
        return parts.dropFirst().allSatisfy { part in
            (part.count == 4 && part.allSatisfy { $0.isASCII && $0.isLetter }) || (part.count == 2 && part.allSatisfy { $0.isASCII && $0.isLetter })
                || (part.count == 3 && part.allSatisfy(\.isNumber))
        }
    }

    /// ISO 639-2 codes that have a two-letter code (tesseract's `spa`, `por`, `eng`, …).
    static let threeLetter: [String: String] = [
        "eng": "en", "spa": "es", "por": "pt", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "ita": "it", "nld": "nl", "dut": "nl",
        "cat": "ca", "glg": "gl", "eus": "eu", "baq": "eu", "rus": "ru", "ukr": "uk", "pol": "pl", "ces": "cs", "cze": "cs", "ron": "ro",
        "rum": "ro", "hun": "hu", "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "ell": "el", "gre": "el", "tur": "tr", "ara": "ar",
        "heb": "he", "hin": "hi", "jpn": "ja", "kor": "ko", "zho": "zh", "chi": "zh", "vie": "vi", "tha": "th", "ind": "id", "msa": "ms",
    ]

    /// The language names Whisper-style transcription answers with, and their codes.
    static let names: [String: String] = [
        "english": "en", "chinese": "zh", "german": "de", "spanish": "es", "castilian": "es", "russian": "ru", "korean": "ko",
        "french": "fr", "japanese": "ja", "portuguese": "pt", "turkish": "tr", "polish": "pl", "catalan": "ca", "valencian": "ca",
        "dutch": "nl", "flemish": "nl", "arabic": "ar", "swedish": "sv", "italian": "it", "indonesian": "id", "hindi": "hi",
        "finnish": "fi", "vietnamese": "vi", "hebrew": "he", "ukrainian": "uk", "greek": "el", "malay": "ms", "czech": "cs",
        "romanian": "ro", "moldavian": "ro", "moldovan": "ro", "danish": "da", "hungarian": "hu", "tamil": "ta", "norwegian": "no",
        "thai": "th", "urdu": "ur", "croatian": "hr", "bulgarian": "bg", "lithuanian": "lt", "latin": "la", "maori": "mi",
        "malayalam": "ml", "welsh": "cy", "slovak": "sk", "telugu": "te", "persian": "fa", "latvian": "lv", "bengali": "bn",
        "serbian": "sr", "azerbaijani": "az", "slovenian": "sl", "kannada": "kn", "estonian": "et", "macedonian": "mk",
        "breton": "br", "basque": "eu", "icelandic": "is", "armenian": "hy", "nepali": "ne", "mongolian": "mn", "bosnian": "bs",
        "kazakh": "kk", "albanian": "sq", "swahili": "sw", "galician": "gl", "marathi": "mr", "punjabi": "pa", "panjabi": "pa",
        "sinhala": "si", "sinhalese": "si", "khmer": "km", "shona": "sn", "yoruba": "yo", "somali": "so", "afrikaans": "af",
        "occitan": "oc", "georgian": "ka", "belarusian": "be", "tajik": "tg", "sindhi": "sd", "gujarati": "gu", "amharic": "am",
        "yiddish": "yi", "lao": "lo", "uzbek": "uz", "faroese": "fo", "haitian creole": "ht", "haitian": "ht", "pashto": "ps",
        "pushto": "ps", "turkmen": "tk", "nynorsk": "nn", "maltese": "mt", "sanskrit": "sa", "luxembourgish": "lb",
        "letzeburgesch": "lb", "myanmar": "my", "burmese": "my", "tibetan": "bo", "tagalog": "tl", "malagasy": "mg",
        "assamese": "as", "tatar": "tt", "hawaiian": "haw", "lingala": "ln", "hausa": "ha", "bashkir": "ba", "javanese": "jv",
        "sundanese": "su", "cantonese": "yue", "mandarin": "zh", "brazilian portuguese": "pt-BR",
    ]
}
