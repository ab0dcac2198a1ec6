import AcervoConnectors
import AcervoEngine
import AcervoStore
import AcervoTools
import Foundation

/// Brings a lesson's files into the store from wherever a resolver found them. A file whose change marker is
/// the one recorded with its digest last time is not fetched at all (no request to the CDN, no remux): a
/// night with no new lesson downloads nothing.
struct MediaFetcher: Sendable {
    let downloader: Downloader
    let hls: HLSStream
    var store: Store { downloader.store }

    init(downloader: Downloader) {
        self.downloader = downloader
        hls = HLSStream(api: downloader.api, onBytes: downloader.onBytes)
    }

    /// The file's digest in the store.
    func fetch(_ file: RemoteFile) async throws -> Digest {
        if let known = try await remembered(file) { return known }
        let started = Date()
        let digest: Digest
        var marker = file.marker
        switch file.fetch {
        case .http(let url, let expectedDigest, let expectedSize):
            digest = try await downloader.fetch(url, expectedDigest: expectedDigest, expectedSize: expectedSize).digest
        case .signed(let link, let expectedSize):
            digest = try await downloader.fetch(try await link(), expectedSize: expectedSize, relink: link).digest
        case .hls(let playlistURL, let minimumHeight):
            let playlist = try await hls.mediaPlaylist(try await playlistURL(), minimumHeight: minimumHeight)
            marker = marker ?? playlist.marker
            if let known = try await remembered(file, marker: marker) { return known }
            let scratch = try ScratchFolder()
            let output = scratch.path + "/video.mp4"
            try await hls.remux(playlist, into: output, scratch: scratch.path) { () async throws(ConnectorError) in
                try await hls.mediaPlaylist(try await playlistURL(), minimumHeight: minimumHeight)
            }
            digest = try await store.ingest(fileAt: output, kind: .media).digest
            withExtendedLifetime(scratch) {}
        case .local(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw SourceError("the file `\(file.name)` cannot be read any more (moved, deleted or not readable)")
            }
            digest = try await store.ingest(fileAt: path, kind: .media).digest
        }
        if let size = await store.blobs.size(of: digest) {
            let seconds = Date().timeIntervalSince(started)
            downloader.api.log(String(format: "media: fetched %@ — %.1f MB in %.1f s (%.1f MB/s)", file.name, Double(size) / 1e6, seconds,
                                      Double(size) / 1e6 / max(seconds, 0.001)))
        }
                if let key = file.markerKey, let marker {
            // Only the shortcut for next time is lost when this cannot be written: the file is stored.
            try? await store.downloads.rememberDownload(
                DownloadRecord(url: Self.recordKey(key), etag: marker, lastModified: nil, size: await store.blobs.size(of: digest) ?? 0, digest: digest),
                at: Date())
        }
        return digest
    }

    enum Survey {
        /// In the store already (fetched before, marker unchanged), or a local file: `fetch` costs no download.
        case known
        case unfetched(UnfetchedArtifact)
    }

    /// What a plan may know of a file without downloading it: whether the store has it, else its length from
    /// the host, from the stream's playlist (a few hundred bytes), or from ffprobe reading the head of its URL.
    /// `timed`: whether its length matters (a video's does; captions' and materials' do not, so nothing is
    /// asked of their host).
    func survey(_ file: RemoteFile, timed: Bool) async throws -> Survey {
        if try await remembered(file) != nil { return .known }
        if case .local = file.fetch { return .known }
        if case .http(_, let expectedDigest?, _) = file.fetch, await store.blobs.contains(expectedDigest) { return .known }
        var facts = UnfetchedArtifact(durationSeconds: file.durationSeconds, bytes: file.bytes)
        if timed, facts.durationSeconds == nil {
            switch file.fetch {
            case .hls(let playlist, let minimumHeight):
                let media = try? await hls.mediaPlaylist(try await playlist(), minimumHeight: minimumHeight)
                if let media, try await remembered(file, marker: file.marker ?? media.marker) != nil { return .known }
                facts.durationSeconds = media?.duration
            case .http(let url, _, _):
                facts.durationSeconds = await Self.probeHead(url)
            case .signed(let link, _):
                if let url = try? await link() { facts.durationSeconds = await Self.probeHead(url) }
            case .local:
                break
            }
        }
        return .unfetched(facts)
    }

    /// A remote video's duration as ffprobe reads it over HTTP: its header and index only (by `Range`), never
    /// the whole file. Nil when it cannot tell.
    static func probeHead(_ url: String) async -> Double? {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { return nil }
        let arguments = ["-v", "error", "-protocol_whitelist", "http,https,tcp,tls", "-show_entries", "format=duration", "-of", "csv=p=0", url]
        guard let result = try? await ExternalTool.run("ffprobe", arguments, timeoutSeconds: 60) else { return nil }
        return Double(String(decoding: result.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The digest fetched last time, when the file's marker is unchanged and its bytes are still stored.
    func remembered(_ file: RemoteFile, marker: String? = nil) async throws -> Digest? {
        guard let key = file.markerKey, let marker = marker ?? file.marker,
              let record = try await store.downloads.downloadRecord(for: Self.recordKey(key)), record.etag == marker,
              await store.blobs.contains(record.digest) else { return nil }
        return record.digest
    }

    /// Markers share the downloads table with URLs' validators, under a key no URL has.
    static func recordKey(_ key: String) -> String { "marker:" + key }
}
