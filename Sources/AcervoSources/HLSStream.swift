import AcervoConnectors
import AcervoStore
import AcervoTools
import Foundation

/// An HLS stream made one MP4 without re-encoding. The playlist, its key and its segments are fetched here —
/// each retried on its own (429, 5xx, a dropped connection), and a segment whose signed link expired is
/// fetched again from a freshly asked playlist — then ffmpeg joins the local copies (`-c copy`, bit-exact: the
/// same stream gives the same bytes, so the same digest). ffmpeg never reads the network: a segment it could
/// not fetch would be skipped with a warning, and the lesson's video silently cut.
struct HLSStream: Sendable {
    let api: APIClient
    /// Told of each segment's bytes as it arrives.
    var onBytes: @Sendable (Int64) -> Void = { _ in }
    /// Segments fetched at once.
    var concurrency = 4

    /// A media playlist: its segments (with their decryption keys) and the marker of its content.
    struct MediaPlaylist: Sendable {
        struct Segment: Sendable {
            var url: String
            var duration: Double
            /// Index into `keys`, when the segment is encrypted (AES-128).
            var key: Int?
            var iv: String?
        }
        var url: String
        var segments: [Segment]
        var keys: [String]
        /// fMP4 streams: the initialization section (`EXT-X-MAP`).
        var initialization: String?
        var duration: Double { segments.reduce(0) { $0 + $1.duration } }

        /// What changes when the video changes, and only then: the playlist with its links' queries (signatures,
        /// expiry times) taken out.
        var marker: String
    }

    /// The media playlist of `url`: itself, or of a master playlist the smallest variant at least
    /// `minimumHeight` tall (the tallest when none is).
    func mediaPlaylist(_ url: String, minimumHeight: Int) async throws(ConnectorError) -> MediaPlaylist {
        let text = try await fetchText(url)
        let lines = Self.lines(text)
        guard lines.first == "#EXTM3U" else {
            throw ConnectorError(.badResponse, provider: api.provider, request: APIRequest(.GET, url).label, message: "the answer is not an HLS playlist")
        }
        if lines.contains(where: { $0.hasPrefix("#EXT-X-STREAM-INF") }) {
            let variants = Self.variants(lines, base: url)
            let tallEnough = variants.filter { $0.height >= minimumHeight }
            guard let chosen = tallEnough.min(by: { ($0.height, $0.bandwidth) < ($1.height, $1.bandwidth) })
                ?? variants.max(by: { ($0.height, $0.bandwidth) < ($1.height, $1.bandwidth) }) else {
                throw ConnectorError(.badResponse, provider: api.provider, request: APIRequest(.GET, url).label, message: "the master playlist lists no stream")
            }
            return try await mediaPlaylist(chosen.url, minimumHeight: minimumHeight)
        }
        return try Self.parseMedia(lines, url: url, provider: api.provider)
    }

    /// Fetches every segment of `playlist` into `folder` and joins them into `output` (MP4). `refresh` gives
    /// the playlist anew when a segment's link has expired.
    func remux(_ playlist: MediaPlaylist, into output: String, scratch folder: String,
               refresh: @Sendable () async throws(ConnectorError) -> MediaPlaylist) async throws {
        var current = playlist
        var keys: [String] = []
        for (index, key) in current.keys.enumerated() {
            let path = "\(folder)/key\(index).bin"
            try Data(try await fetchBytes(key)).write(to: URL(fileURLWithPath: path))
            keys.append(path)
        }
        var local = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:\(Int((current.segments.map(\.duration).max() ?? 1).rounded(.up)))",
                     "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
        if let initialization = current.initialization {
            try Data(try await fetchBytes(initialization)).write(to: URL(fileURLWithPath: "\(folder)/init.mp4"))
            local.append("#EXT-X-MAP:URI=\"init.mp4\"")
        }
        // Segments, a few at once; an expired link (403, 410) asks for the playlist again, once per round.
        var missing = Array(current.segments.indices)
        var rounds = 0
        while !missing.isEmpty {
            let failed = try await fetchSegments(missing, of: current, into: folder)
            guard !failed.isEmpty else { break }
            rounds += 1
            guard rounds <= 3 else {
                throw ConnectorError(.authentication, provider: api.provider, request: APIRequest(.GET, current.url).label,
                                     message: "the stream's segment links keep expiring before they can be fetched")
            }
            let fresh = try await refresh()
            guard fresh.segments.count == current.segments.count else {
                throw ConnectorError(.badResponse, provider: api.provider, request: APIRequest(.GET, fresh.url).label,
                                     message: "the video changed while it was being fetched (its playlist has another length now); the next build fetches it again")
            }
            current = fresh
            missing = failed
            api.log("\(api.provider): \(failed.count) segment links expired; fetching them again with a fresh playlist")
        }
        var lastKey: Int?
        for (index, segment) in current.segments.enumerated() {
            if segment.key != lastKey {
                if let key = segment.key {
                    local.append("#EXT-X-KEY:METHOD=AES-128,URI=\"\(keys[key])\"" + (segment.iv.map { ",IV=\($0)" } ?? ""))
                } else {
                    local.append("#EXT-X-KEY:METHOD=NONE")
                }
                lastKey = segment.key
            }
            local.append("#EXTINF:\(segment.duration),")
            local.append("segment\(index).ts")
        }
        local.append("#EXT-X-ENDLIST")
        let playlistPath = "\(folder)/local.m3u8"
        try (local.joined(separator: "\n") + "\n").write(toFile: playlistPath, atomically: true, encoding: .utf8)
        var arguments = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist", "file,crypto,data"]
        arguments += await Self.extensionOptions.value
        arguments += ["-i", playlistPath, "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-map_metadata", "-1",
                      "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-movflags", "+faststart", output]
        do {
            _ = try await ExternalTool.run("ffmpeg", arguments, timeoutSeconds: max(600, current.duration))
        } catch let failure as ExternalTool.Failure {
            throw ConnectorError(.badResponse, provider: api.provider, request: APIRequest(.GET, current.url).label,
                                 message: "the stream's segments cannot be joined into a video (ffmpeg: \(failure.said))")
        }
    }

    /// Fetches the segments at `indices`; answers those whose links had expired.
    private func fetchSegments(_ indices: [Int], of playlist: MediaPlaylist, into folder: String) async throws -> [Int] {
        try await withThrowingTaskGroup(of: Int?.self) { group in
            var pending = indices.makeIterator()
            var expired: [Int] = []
            func startNext() {
                guard let index = pending.next() else { return }
                let url = playlist.segments[index].url
                group.addTask {
                    do {
                        let bytes = try await fetchBytes(url)
                        onBytes(Int64(bytes.count))
                        try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/segment\(index).ts"))
                        return nil
                    } catch let error as ConnectorError where error.status == 403 || error.status == 410 {
                        return index
                    }
                }
            }
            for _ in 0..<concurrency { startNext() }
            while let result = try await group.next() {
                if let index = result { expired.append(index) }
                startNext()
            }
            return expired.sorted()
        }
    }

    private func fetchBytes(_ url: String) async throws(ConnectorError) -> [UInt8] {
        try await api.send(APIRequest(.GET, url)) { response throws(ConnectorError) in response.body }
    }

    private func fetchText(_ url: String) async throws(ConnectorError) -> String {
        String(decoding: try await fetchBytes(url), as: UTF8.self)
    }

    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `RESOLUTION=1280x720,BANDWIDTH=…` and the URI on the next line.
    static func variants(_ lines: [String], base: String) -> [(url: String, height: Int, bandwidth: Int)] {
        var variants: [(url: String, height: Int, bandwidth: Int)] = []
        for (index, line) in lines.enumerated() where line.hasPrefix("#EXT-X-STREAM-INF:") && index + 1 < lines.count {
            let attributes = Self.attributes(String(line.dropFirst("#EXT-X-STREAM-INF:".count)))
            let height = attributes["RESOLUTION"].flatMap { $0.split(separator: "x").last.flatMap { Int($0) } } ?? 0
            guard let url = resolve(lines[index + 1], against: base) else { continue }
            variants.append((url, height, Int(attributes["BANDWIDTH"] ?? "") ?? 0))
        }
        return variants
    }

    static func parseMedia(_ lines: [String], url: String, provider: String) throws(ConnectorError) -> MediaPlaylist {
        let label = APIRequest(.GET, url).label
        var segments: [MediaPlaylist.Segment] = []
        var keys: [String] = []
        var key: Int?
        var iv: String?
        var initialization: String?
        var duration: Double?
        for line in lines {
            if line.hasPrefix("#EXTINF:") {
                duration = Double(line.dropFirst("#EXTINF:".count).split(separator: ",").first ?? "")
            } else if line.hasPrefix("#EXT-X-KEY:") {
                let attributes = Self.attributes(String(line.dropFirst("#EXT-X-KEY:".count)))
                switch attributes["METHOD"] {
                case "NONE": key = nil; iv = nil
                case "AES-128":
                    guard let uri = attributes["URI"].flatMap({ resolve($0, against: url) }) else {
                        throw ConnectorError(.badResponse, provider: provider, request: label, message: "the playlist names a key without a URI")
                    }
                    if let known = keys.firstIndex(of: uri) { key = known } else { keys.append(uri); key = keys.count - 1 }
                    iv = attributes["IV"]
                default:
                    throw ConnectorError(.badResponse, provider: provider, request: label,
                                         message: "the stream is encrypted with \(attributes["METHOD"] ?? "an unnamed method") (DRM), which cannot be fetched")
                }
            } else if line.hasPrefix("#EXT-X-MAP:") {
                initialization = Self.attributes(String(line.dropFirst("#EXT-X-MAP:".count)))["URI"].flatMap { resolve($0, against: url) }
            } else if line.hasPrefix("#EXT-X-BYTERANGE") {
                throw ConnectorError(.badResponse, provider: provider, request: label, message: "the playlist cuts its segments by byte ranges, which is not supported")
            } else if !line.hasPrefix("#"), let segmentDuration = duration {
                guard let segmentURL = resolve(line, against: url) else { continue }
                segments.append(.init(url: segmentURL, duration: segmentDuration, key: key, iv: iv))
                duration = nil
            }
        }
        guard !segments.isEmpty else {
            throw ConnectorError(.badResponse, provider: provider, request: label, message: "the playlist lists no segment")
        }
        guard lines.contains("#EXT-X-ENDLIST") else {
            throw ConnectorError(.badResponse, provider: provider, request: label, message: "the playlist is a live stream (no end), not a recorded lesson")
        }
        let unsigned = lines.map { line in line.hasPrefix("#") && !line.hasPrefix("#EXT-X-KEY") && !line.hasPrefix("#EXT-X-MAP") ? line : withoutQuery(line) }
        let marker = "hls-" + Digest.of(Array(unsigned.joined(separator: "\n").utf8)).hex
        return MediaPlaylist(url: url, segments: segments, keys: keys, initialization: initialization, marker: marker)
    }

    /// `KEY=VALUE,KEY="VALUE, with commas"`.
    static func attributes(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var key = "", value = "", inKey = true, quoted = false
        func flush() {
            if !key.isEmpty { result[key.trimmingCharacters(in: .whitespaces)] = value }
            key = ""; value = ""; inKey = true
        }
        for character in text {
            if inKey {
                if character == "=" { inKey = false } else if character == "," { flush() } else { key.append(character) }
            } else if character == "\"" {
                quoted.toggle()
            } else if character == ",", !quoted {
                flush()
            } else {
                value.append(character)
            }
        }
        flush()
        return result
    }

    static func resolve(_ reference: String, against base: String) -> String? {
        URL(string: reference, relativeTo: URL(string: base))?.absoluteString
    }

    /// A line with its query taken out (`seg1.ts?token=…&expires=…` → `seg1.ts`); tags keep theirs.
    static func withoutQuery(_ line: String) -> String {
        guard let question = line.firstIndex(of: "?") else { return line }
        if line.hasPrefix("#"), let quote = line[question...].firstIndex(of: "\"") {
            return String(line[..<question]) + String(line[quote...])
        }
        return String(line[..<question])
    }

    /// The hls demuxer of ffmpeg 5.1 refuses segment names it does not know unless told otherwise; later
    /// versions name the option differently. Our local names end in `.ts`, so only the key needs it. ffmpeg is
    /// asked once per process, not once per stream.
    static let extensionOptions = Task<[String], Never> {
        let help = (try? await ExternalTool.run("ffmpeg", ["-hide_banner", "-h", "demuxer=hls"], timeoutSeconds: 30))
            .map { String(decoding: $0.standardOutput, as: UTF8.self) } ?? ""
        return help.contains("-allowed_extensions") ? ["-allowed_extensions", "ALL"] : []
    }
}
