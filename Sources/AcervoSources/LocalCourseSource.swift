import AcervoEngine
import AcervoRules
import AcervoStore
import Foundation
import Yams

/// A course folder: `course.yaml` (name, school, language), one folder per module and inside it one folder
/// per lesson (both order-prefixed, `01-basics/02-variables`), each lesson holding its video, captions,
/// materials and an optional `lesson.yaml`.
///
/// Item ids are the course-relative lesson path, so they survive moving the course. Files enter the store
/// through the stat cache: an unchanged video is not read again.
public struct LocalCourseSource: Source {
    public let path: String

    static let videoExtensions: Set<String> = ["mp4", "mov", "mkv", "webm"]
    static let captionExtensions: Set<String> = ["vtt", "srt", "sbv"]
    static let materialExtensions: Set<String> = ["pdf", "md", "txt"]

    public init(path: String) {
        self.path = path
    }

    struct Course: Decodable {
        var name: String
        var school: String?
        var language: String?
    }

    public func items(store: Store) async throws -> [Item] {
        let course = try readCourse()
        var items: [Item] = []
        guard let root = Self.realPath(path) else { throw SourceError("cannot resolve the course folder \(path)") }
        for module in try FolderListing.entries(of: path) where module.kind == .folder {
            guard let moduleName = module.name else {
                items.append(Item(id: module.shown, metadata: [:], artifacts: [:], detectionError: Self.notUTF8(module.shown)))
                continue
            }
            for lesson in try FolderListing.entries(of: path + "/" + moduleName) where lesson.kind == .folder {
                let id = (moduleName + "/" + lesson.shown).precomposedStringWithCanonicalMapping
                do {
                    guard let lessonName = lesson.name else { throw SourceError(Self.notUTF8(lesson.shown)) }
                    try Self.checkName(moduleName)
                    try Self.checkName(lessonName)
                    try Self.checkInside(root: root, path + "/" + moduleName + "/" + lessonName, what: "the lesson folder")
                    items.append(try await item(module: moduleName, lesson: lessonName, course: course, root: root, store: store))
                } catch {
                    items.append(Item(id: id, metadata: [:], artifacts: [:], detectionError: "\(error)"))
                }
            }
        }
        return items
    }

    static func notUTF8(_ shown: String) -> String {
        "the folder name `\(shown)` is not UTF-8 (shown with \\x escapes); rename it"
    }

    /// The path with every symbolic link resolved, or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Refuses a file or folder that resolves outside the course: its content would reach the knowledge base
    /// (and the vector store) from anywhere on the machine.
    static func checkInside(root: String, _ path: String, what: String) throws {
        guard let real = realPath(path) else { throw SourceError("\(what) \(path) cannot be resolved (a link to nothing?)") }
        guard real.hasPrefix(root + "/") else {
            throw SourceError("\(what) \(path) points outside the course (\(real)); copy it into the course instead")
        }
    }

    private func readCourse() throws -> Course {
        let file = path + "/course.yaml"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw SourceError("\(path) is not a course folder: it has no readable course.yaml (name, school, language)")
        }
        do { return try YAMLDocument.decode(Course.self, from: text, file: file) } catch {
            throw SourceError("\(error); it needs at least `name:`")
        }
    }

    private func item(module: String, lesson: String, course: Course, root: String, store: Store) async throws -> Item {
        let folder = path + "/" + module + "/" + lesson
        var metadata: [String: JSONValue] = [
            "course": .string(course.name), "module": .string(Self.title(fromFolder: module)),
            "module_order": .number(Double(Self.order(fromFolder: module))), "order": .number(Double(Self.order(fromFolder: lesson))),
            "title": .string(Self.title(fromFolder: lesson)),
        ]
        if let school = course.school { metadata["school"] = .string(school) }
        if let language = course.language { metadata["language"] = .string(language) }
        var artifacts: [String: Digest] = [:]
        var names: [String: String] = [:]
        var materials: [TreeEntry] = []
        var captions: [String] = []
        for entry in try FolderListing.entries(of: folder) where entry.kind != .folder {
            guard let name = entry.name else {
                throw SourceError("the file name `\(entry.shown)` is not UTF-8 (shown with \\x escapes); rename it")
            }
            let kind = (name as NSString).pathExtension.lowercased()
            let known = name == "lesson.yaml" || Self.videoExtensions.contains(kind) || Self.captionExtensions.contains(kind)
                || Self.materialExtensions.contains(kind)
            guard known else { continue }
            let file = folder + "/" + name
            if case .other(let what) = entry.kind {
                throw SourceError("`\(name)` is \(what), not a regular file; only regular files are read — replace it with the file itself")
            }
            try Self.checkInside(root: root, file, what: "`\(name)`")
            if name == "lesson.yaml" {
                for (key, value) in try lessonMetadata(file) { metadata[key] = value }
            } else if Self.videoExtensions.contains(kind), artifacts["video"] == nil {
                artifacts["video"] = try await store.ingest(fileAt: file, kind: .media).digest
                names["video"] = name
            } else if Self.captionExtensions.contains(kind) {
                captions.append(name)
            } else if Self.materialExtensions.contains(kind) {
                let stored = try await store.ingest(fileAt: file, kind: .media)
                materials.append(TreeEntry(name: name, digest: stored.digest, size: stored.size))
            }
        }
        // One spelling per language in the knowledge base (`pt_br` in a lesson.yaml is `pt-BR`).
        if let language = metadata["language"]?.string { metadata["language"] = .string(LanguageTag.normalized(language)) }
        if let name = Self.preferredCaptions(captions, language: metadata["language"]?.string) {
            artifacts["captions"] = try await store.ingest(fileAt: folder + "/" + name, kind: .media).digest
            names["captions"] = name
        }
        if !materials.isEmpty {
            artifacts["materials"] = try await store.putTree(materials)
            names["materials"] = materials.map(\.name).joined(separator: ", ")
        }
        return Item(id: (module + "/" + lesson).precomposedStringWithCanonicalMapping, metadata: metadata, artifacts: artifacts, sourceNames: names)
    }

    /// Of several caption files (`clase.es.vtt`, `clase.en.srt`), the one tagged with the lesson's language
    /// (`pt-BR`: `pt-BR`, `pt_br`, else plain `pt`); else one with no language tag; else the first by name.
    static func preferredCaptions(_ names: [String], language: String?) -> String? {
        func tags(_ name: String) -> [Substring] { name.lowercased().split(separator: ".").dropFirst().dropLast() }
        func isLanguageTag(_ part: Substring) -> Bool {
            let base = part.split { $0 == "-" || $0 == "_" }.first ?? ""
            return (2...3).contains(base.count) && base.allSatisfy { $0.isASCII && $0.isLetter }
        }
        if let language = language?.lowercased().replacingOccurrences(of: "_", with: "-") {
            let exact = names.first { name in
                tags(name).contains { $0.replacingOccurrences(of: "_", with: "-") == language || $0.hasPrefix(language + "-") || $0.hasPrefix(language + "_") }
            }
            let primary = language.split(separator: "-").first.map(String.init) ?? language
            if let tagged = exact ?? names.first(where: { tags($0).contains { $0 == primary } }) { return tagged }
        }
        return names.first { !tags($0).contains(where: isLanguageTag) } ?? names.first
    }

    /// `lesson.yaml`: any scalar fields (title, level, topic, …) override what the folder names say.
    private func lessonMetadata(_ file: String) throws -> [String: JSONValue] {
        let shown = (file as NSString).lastPathComponent
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw SourceError("`\(shown)` cannot be read; check its permissions")
        }
        guard let text = String(validating: bytes, as: UTF8.self), !bytes.contains(0) else {
            throw SourceError("`\(shown)` is not a text file (UTF-8 YAML with `title:`, `level:` …); fix it or remove it")
        }
        guard let node = try YAMLDocument.compose(text, file: file), case .mapping(let mapping) = node else { return [:] }
        var values: [String: JSONValue] = [:]
        for (key, value) in mapping {
            guard let name = key.string, case .scalar(let scalar) = value else { continue }
            if let number = value.float, scalar.style == .plain, value.bool == nil { values[name] = .number(number) } else { values[name] = .string(scalar.string) }
        }
        return values
    }

    /// Spaces and accents are fine in folder names (ids are NFC-normalised); control characters, line breaks
    /// and `..` are not: they break paths, logs and the vector store's attributes.
    static func checkName(_ name: String) throws {
        if name.contains("..") {
            throw SourceError("the folder name `\(name)` contains `..`; rename it")
        }
        if let bad = name.unicodeScalars.first(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            throw SourceError("the folder name `\(name.debugDescription)` contains the invisible character U+\(String(bad.value, radix: 16, uppercase: true)); rename it")
        }
    }

    /// `02-variables-y-tipos` → `Variables y tipos`.
    static func title(fromFolder name: String) -> String {
        let rest = name.drop { $0.isNumber }
        let trimmed = rest.count < name.count ? rest.drop { $0 == "-" || $0 == "_" || $0 == " " || $0 == "." } : Substring(name)
        let words = String(trimmed.isEmpty ? Substring(name) : trimmed).replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }

    static func order(fromFolder name: String) -> Int {
        Int(name.prefix { $0.isNumber }) ?? 0
    }
}
