import Yams

/// Where items come from (`source:` in pipeline.yaml, or each entry of `sources:`).
public enum SourceSettings: Sendable, Equatable {
    /// A course folder (`source: { kind: local, path: examples/course }`); a relative path is relative to the
    /// project folder, the rules folder's parent.
    case local(path: String?)
    case hotmart(HotmartSettings)

    public var kind: String {
        switch self {
        case .local: return "local"
        case .hotmart: return "hotmart"
        }
    }

    static let kinds = ["local", "hotmart"]
}

/// One source of a pipeline: its settings, a name (messages, the dashboard), and the prefix its items' ids
/// carry, so that ids stay unique across the sources of one knowledge base.
public struct SourceSpec: Sendable, Equatable {
    public var name: String
    public var settings: SourceSettings
    /// Prepended to every item id of this source (`hotmart/`, `hotmart/club-b/`); empty for none.
    public var idPrefix: String

    public init(name: String, settings: SourceSettings, idPrefix: String) {
        self.name = name
        self.settings = settings
        self.idPrefix = idPrefix
    }
}

/// A Hotmart members area as a source.
public struct HotmartSettings: Sendable, Equatable {
    /// The members area's subdomain (`my-club`).
    public var subdomain: String
    /// The course name lessons carry as metadata (default: the subdomain).
    public var course: String
    /// The school lessons carry as metadata, when the source says it.
    public var school: String?
    /// The product's id, for `v2` page paths (`?product_id=`).
    public var productID: String?
    /// Where lessons' files are, tried in order for each lesson: Hotmart's API lists the catalog but does
    /// not serve videos.
    public var media: [MediaSettings]
    /// A catalog that loses more than this share of its lessons at once is refused (default 0.5).
    public var maxShrink: Double
    /// The Club API's paths, configurable because Hotmart has published more than one version. The pages
    /// path holds `{module_id}` and may hold `{product_id}`.
    public var modulesPath: String
    public var pagesPath: String
    /// Lesson files fetched at once (default 5).
    public var downloadConcurrency: Int

    public init(subdomain: String, course: String? = nil, school: String? = nil, productID: String? = nil, media: [MediaSettings],
                maxShrink: Double = 0.5, modulesPath: String = "/club/api/v1/modules",
                pagesPath: String = "/club/api/v1/modules/{module_id}/pages", downloadConcurrency: Int = 5) {
        self.subdomain = subdomain
        self.course = course ?? subdomain
        self.school = school
        self.productID = productID
        self.media = media
        self.maxShrink = maxShrink
        self.modulesPath = modulesPath
        self.pagesPath = pagesPath
        self.downloadConcurrency = downloadConcurrency
    }

    /// The environment variables its media resolvers read secrets from (`VIMEO_TOKEN`, or what `token:` names).
    public var secretVariables: [String] {
        media.compactMap { media in
            switch media {
            case .vimeo(let vimeo): vimeo.tokenVariable
            case .panda(let panda): panda.keyVariable
            default: nil
            }
        }
    }
}

/// One way of finding a lesson's media (`source.media`): each lesson takes the first that knows it.
public enum MediaSettings: Sendable, Equatable {
    /// A JSON file: page id → `video`, `captions`, `materials` (`{url, sha256?, size?}`, or `vimeo: ID`,
    /// `hls: URL`, `file: PATH`). Relative to the project folder.
    case manifest(path: String)
    /// URL templates with `{page_id}` and `{module_id}`.
    case template(videoURL: String?, captionsURL: String?)
    /// Videos on Vimeo, in a folder (project) or the whole account, matched to pages.
    case vimeo(VimeoSettings)
    /// Videos on Panda Video, in a folder, matched to pages; fetched from their HLS playlists.
    case panda(PandaSettings)
    /// An HLS playlist per lesson (`{page_id}`, `{module_id}`), fetched with ffmpeg without re-encoding.
    case hls(urlTemplate: String)
    /// A folder (or a mounted bucket) of the original files, matched to pages by title.
    case folder(path: String, match: MatchSettings)

    public var kind: String {
        switch self {
        case .manifest: "manifest"
        case .template: "template"
        case .vimeo: "vimeo"
        case .panda: "panda"
        case .hls: "hls"
        case .folder: "folder"
        }
    }

    static let kinds = ["vimeo", "panda", "hls", "folder", "manifest", "template"]
}

/// How pages and hosted videos are paired: an id in the video's name or description, else titles.
public struct MatchSettings: Sendable, Equatable {
    /// A title match below this score (0–1) is not taken.
    public var minimumScore: Double

    public init(minimumScore: Double = 0.75) {
        self.minimumScore = minimumScore
    }
}

public struct VimeoSettings: Sendable, Equatable {
    /// A folder's (project's) id; nil: every video of the account.
    public var folder: String?
    /// The variable holding the personal access token (scopes `private` and `video_files`).
    public var tokenVariable: String
    /// The smallest rendition at least this tall is fetched (slides must be legible for OCR).
    public var minimumHeight: Int
    public var match: MatchSettings

    public init(folder: String? = nil, tokenVariable: String = "VIMEO_TOKEN", minimumHeight: Int = 720, match: MatchSettings = MatchSettings()) {
        self.folder = folder
        self.tokenVariable = tokenVariable
        self.minimumHeight = minimumHeight
        self.match = match
    }
}

public struct PandaSettings: Sendable, Equatable {
    /// A folder's id; nil: every video of the account.
    public var folder: String?
    /// The variable holding the API key.
    public var keyVariable: String
    /// The smallest variant at least this tall is fetched from a master playlist.
    public var minimumHeight: Int
    public var match: MatchSettings

    public init(folder: String? = nil, keyVariable: String = "PANDA_API_KEY", minimumHeight: Int = 720, match: MatchSettings = MatchSettings()) {
        self.folder = folder
        self.keyVariable = keyVariable
        self.minimumHeight = minimumHeight
        self.match = match
    }
}

extension Context {
    /// `source:` (one) or `sources:` (a list): each with its name and id prefix. Ids keep the form they always
    /// had when there is one source of a kind; several Hotmart clubs, or several folders, are told apart by
    /// their name in the id (`hotmart/club-b/123`, `extra/01-modulo/01-clase`), or by `id_prefix`.
    func sources(single: Node?, list: Node?) throws(RulesError) -> [SourceSpec] {
        if single != nil, let list {
            throw RulesError("pipeline.yaml has both `source` and `sources`", at: location(list), fix: "keep one: a list under `sources:` holds several")
        }
        var entries: [(node: Node, settings: SourceSettings, name: String?, prefix: String?)] = []
        if let list {
            guard case .sequence(let nodes) = list, !nodes.isEmpty else {
                throw RulesError("`sources` must be a list of sources", at: location(list), fix: "e.g. sources: [{ kind: hotmart, subdomain: CLUB, media: … }]")
            }
            for node in nodes { entries.append(try sourceEntry(node)) }
        } else if let single {
            entries.append(try sourceEntry(single))
        } else {
            return [SourceSpec(name: "local", settings: .local(path: nil), idPrefix: "")]
        }
        let hotmarts = entries.filter { $0.settings.kind == "hotmart" }.count
        let locals = entries.filter { $0.settings.kind == "local" }.count
        var specs: [SourceSpec] = []
        for entry in entries {
            let name: String
            let prefix: String
            switch entry.settings {
            case .hotmart(let settings):
                name = entry.name ?? settings.subdomain
                prefix = entry.prefix ?? (hotmarts > 1 ? "hotmart/\(name)/" : "hotmart/")
            case .local(let path):
                name = entry.name ?? path.map { String($0.split(separator: "/").last ?? "local") } ?? "local"
                prefix = entry.prefix ?? (locals > 1 ? "\(name)/" : "")
            }
            guard !specs.contains(where: { $0.name == name }) else {
                throw RulesError("two sources are named `\(name)`", at: location(entry.node), fix: "give one of them `name: OTHER`")
            }
            if let clash = specs.first(where: { !prefix.isEmpty && !$0.idPrefix.isEmpty && ($0.idPrefix.hasPrefix(prefix) || prefix.hasPrefix($0.idPrefix)) }) {
                throw RulesError("sources `\(clash.name)` and `\(name)` give their lessons ids that can collide (`\(clash.idPrefix)…`, `\(prefix)…`)",
                                 at: location(entry.node), fix: "set `id_prefix:` on one of them")
            }
            specs.append(SourceSpec(name: name, settings: entry.settings, idPrefix: prefix))
        }
        return specs
    }

    private func sourceEntry(_ node: Node) throws(RulesError) -> (node: Node, settings: SourceSettings, name: String?, prefix: String?) {
        let fields = try settings(node, "`source`", allowed: ["kind", "name", "id_prefix", "path", "subdomain", "course", "school", "product_id", "media",
                                                               "max_shrink", "modules_path", "pages_path", "download_concurrency"])
        var prefix = try string(fields["id_prefix"], "id_prefix")
        if let text = prefix, !text.hasSuffix("/") { prefix = text + "/" }
        if let text = prefix, text.split(separator: "/", omittingEmptySubsequences: false).dropLast().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw RulesError("`id_prefix` must be names joined by `/`", at: location(fields["id_prefix"]!.value), fix: "e.g. id_prefix: club-b")
        }
        return (node, try source(node, fields: fields), try string(fields["name"], "name"), prefix)
    }

    func source(_ node: Node, fields: [String: (key: Node, value: Node)]) throws(RulesError) -> SourceSettings {
        let kind = try self.kind(fields, "source", among: SourceSettings.kinds, default: "local")
        let hotmartOnly = ["subdomain", "course", "school", "product_id", "media", "max_shrink", "modules_path", "pages_path", "download_concurrency"]
        let onlyFor = { (key: String, kind: String) throws(RulesError) in
            if let field = fields[key] {
                throw RulesError("`source.\(key)` applies to `kind: \(kind)` sources", at: location(field.key), fix: "remove it, or change the kind")
            }
        }
        guard kind == "hotmart" else {
            for key in hotmartOnly { try onlyFor(key, "hotmart") }
            return .local(path: try string(fields["path"], "path"))
        }
        try onlyFor("path", "local")
        guard let subdomain = try string(fields["subdomain"], "subdomain") else {
            throw RulesError("a Hotmart source needs `subdomain`", at: location(node), fix: "write `source: { kind: hotmart, subdomain: CLUB }`")
        }
        guard let mediaNode = fields["media"]?.value else {
            throw RulesError("a Hotmart source needs `media`: Hotmart's API lists lessons but does not serve their videos",
                             at: location(node), fix: "add `media: [{ kind: vimeo, folder: ID }]`, `media: { manifest: media.json }` or `media: { video_url: https://…/{page_id}.mp4 }`")
        }
        var settings = HotmartSettings(subdomain: subdomain, course: try string(fields["course"], "course"), school: try string(fields["school"], "school"),
                                       productID: try string(fields["product_id"], "product_id"), media: try media(mediaNode))
        settings.maxShrink = try number(fields["max_shrink"], "max_shrink", in: 0...1) ?? settings.maxShrink
        settings.modulesPath = try string(fields["modules_path"], "modules_path") ?? settings.modulesPath
        settings.pagesPath = try string(fields["pages_path"], "pages_path") ?? settings.pagesPath
        if settings.pagesPath.contains("{product_id}"), settings.productID == nil {
            throw RulesError("`pages_path` names `{product_id}`, and the source has no `product_id`", at: location(fields["pages_path"]!.value),
                             fix: "add `product_id: ID` (the product's id in Hotmart)")
        }
        if let concurrency = try wholeNumber(fields["download_concurrency"], "download_concurrency") {
            guard (1...64).contains(concurrency) else {
                throw RulesError("`download_concurrency` must be from 1 to 64", at: location(fields["download_concurrency"]!.value))
            }
            settings.downloadConcurrency = concurrency
        }
        return .hotmart(settings)
    }

    /// `media:` — a list of resolvers, or the older single mapping (`manifest`, `video_url`, `captions_url`).
    func media(_ node: Node) throws(RulesError) -> [MediaSettings] {
        if case .sequence(let nodes) = node {
            guard !nodes.isEmpty else {
                throw RulesError("`source.media` is an empty list", at: location(node), fix: "list where the videos are, e.g. [{ kind: vimeo, folder: ID }]")
            }
            var resolvers: [MediaSettings] = []
            for entry in nodes { resolvers.append(try mediaEntry(entry)) }
            return resolvers
        }
        let fields = try settings(node, "`source.media`", allowed: ["manifest", "video_url", "captions_url"])
        var resolvers: [MediaSettings] = []
        if let manifest = try string(fields["manifest"], "manifest") { resolvers.append(.manifest(path: manifest)) }
        let video = try string(fields["video_url"], "video_url"), captions = try string(fields["captions_url"], "captions_url")
        if video != nil || captions != nil { resolvers.append(.template(videoURL: video, captionsURL: captions)) }
        guard !resolvers.isEmpty, resolvers.contains(where: { if case .template(nil, _) = $0 { false } else { true } }) else {
            throw RulesError("`source.media` names no files", at: location(node),
                             fix: "set `manifest` (a JSON file) or `video_url` (a template with {page_id}), or list resolvers: [{ kind: vimeo, … }]")
        }
        return resolvers
    }

    private func mediaEntry(_ node: Node) throws(RulesError) -> MediaSettings {
        let fields = try settings(node, "an entry of `source.media`",
                                  allowed: ["kind", "folder", "token", "key", "height", "min_score", "url", "path", "video_url", "captions_url"])
        guard let kindField = fields["kind"] else {
            throw RulesError("an entry of `source.media` needs `kind`", at: location(node),
                             fix: "one of \(MediaSettings.kinds.joined(separator: ", ")), e.g. { kind: vimeo, folder: 12345 }")
        }
        let kind = try string(kindField, "kind") ?? ""
        guard MediaSettings.kinds.contains(kind) else {
            throw RulesError("unknown media kind `\(kind)`", at: location(kindField.value),
                             fix: didYouMean(kind, among: MediaSettings.kinds) ?? "one of \(MediaSettings.kinds.joined(separator: ", "))")
        }
        let allowed: [String: [String]] = [
            "vimeo": ["folder", "token", "height", "min_score"], "panda": ["folder", "key", "height", "min_score"], "hls": ["url"],
            "folder": ["path", "min_score"], "manifest": ["path"], "template": ["video_url", "captions_url"],
        ]
        for (key, field) in fields where key != "kind" && !(allowed[kind] ?? []).contains(key) {
            throw RulesError("`\(key)` does not apply to `kind: \(kind)` media", at: location(field.key),
                             fix: "\(kind) takes \((allowed[kind] ?? []).map { "`\($0)`" }.joined(separator: ", "))")
        }
        let height = try wholeNumber(fields["height"], "height") ?? 720
        guard (144...4320).contains(height) else { throw RulesError("`height` must be from 144 to 4320 pixels", at: location(fields["height"]!.value)) }
        let match = MatchSettings(minimumScore: try number(fields["min_score"], "min_score", in: 0.3...1) ?? MatchSettings().minimumScore)
        let required = { (key: String, example: String) throws(RulesError) -> String in
            guard let value = try string(fields[key], key) else {
                throw RulesError("`kind: \(kind)` media needs `\(key)`", at: location(node), fix: "e.g. { kind: \(kind), \(key): \(example) }")
            }
            return value
        }
        switch kind {
        case "vimeo":
            return .vimeo(VimeoSettings(folder: try string(fields["folder"], "folder"), tokenVariable: try secretName(fields["token"], default: "VIMEO_TOKEN"),
                                        minimumHeight: height, match: match))
        case "panda":
            return .panda(PandaSettings(folder: try string(fields["folder"], "folder"), keyVariable: try secretName(fields["key"], default: "PANDA_API_KEY"),
                                        minimumHeight: height, match: match))
        case "hls":
            return .hls(urlTemplate: try required("url", "\"https://cdn.example.com/{page_id}/playlist.m3u8\""))
        case "folder":
            return .folder(path: try required("path", "/mnt/originals"), match: match)
        case "manifest":
            return .manifest(path: try required("path", "media.json"))
        default:
            let video = try string(fields["video_url"], "video_url"), captions = try string(fields["captions_url"], "captions_url")
            guard video != nil || captions != nil else {
                throw RulesError("`kind: template` media needs `video_url` or `captions_url`", at: location(node), fix: "e.g. video_url: https://…/{page_id}.mp4")
            }
            return .template(videoURL: video, captionsURL: captions)
        }
    }

    /// The name of the variable holding a secret — never the secret itself.
    private func secretName(_ field: (key: Node, value: Node)?, default fallback: String) throws(RulesError) -> String {
        guard let name = try string(field, "token") else { return fallback }
        guard name.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }), name.first?.isLetter == true else {
            throw RulesError("`\(field!.key.string ?? "token")` names the environment variable that holds the secret, not the secret",
                             at: location(field!.value), fix: "e.g. token: VIMEO_TOKEN, and export VIMEO_TOKEN=…")
        }
        return name
    }
}
