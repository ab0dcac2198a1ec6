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
        hls = HLSStream(api: downloader.api)
    }

    /// The file's digest in the store.
    func fetch(_ file: RemoteFile) async throws -> Digest {
        if let known = try await remembered(file) { return known }
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
        if let key = file.markerKey, let marker {
            // Only the shortcut for next time is lost when this cannot be written: the file is stored.
            try? await store.downloads.rememberDownload(
                DownloadRecord(url: Self.recordKey(key), etag: marker, lastModified: nil, size: await store.blobs.size(of: digest) ?? 0, digest: digest),
                at: Date())
        }
        return digest
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
