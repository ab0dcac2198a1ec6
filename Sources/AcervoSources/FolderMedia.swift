import AcervoConnectors
import AcervoEngine
import Foundation

/// A folder (or a mounted bucket) of the original files a producer uploaded, in whatever layout they keep:
/// every video under it is a candidate, named by its file name and paired with pages by id or title, its
/// parent folder compared with the module's name. Captions beside a video (same name, `.vtt` or `.srt`) come
/// with it. A file's size and modification time are its marker: an unchanged file is not read again.
struct FolderResolver: MediaResolver {
    static let videoExtensions: Set<String> = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts"]
    static let captionExtensions = ["vtt", "srt"]

    let root: String
    let projectDirectory: String
    let minimumScore: Double
    private let catalog = MatchedCatalog<String>()

    init(path: String, projectDirectory: String, minimumScore: Double) {
        root = path.hasPrefix("/") ? path : projectDirectory + "/" + path
        self.projectDirectory = projectDirectory
        self.minimumScore = minimumScore
    }

    var kind: String { "folder" }

    func prepare(pages: [CatalogPage]) async throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isFolder), isFolder.boolValue else {
            throw SourceError("the media folder `\(root)` does not exist or is not a folder (is the bucket mounted?)")
        }
        var candidates: [MatchCandidate<String>] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let relative = enumerator?.nextObject() as? String {
            let url = URL(fileURLWithPath: relative)
            guard Self.videoExtensions.contains(url.pathExtension.lowercased()), !url.lastPathComponent.hasPrefix(".") else { continue }
            let parent = url.deletingLastPathComponent().lastPathComponent
            candidates.append(MatchCandidate(id: relative, name: url.lastPathComponent, description: relative,
                                             folder: relative.contains("/") ? parent : nil, video: root + "/" + relative))
        }
        catalog.set(candidates: candidates.sorted { $0.id < $1.id }, pages: pages, minimumScore: minimumScore)
    }

    func resolve(_ page: CatalogPage) async throws -> MediaResolution {
        catalog.resolution(for: page, host: "folder", unread: "it was not read", shown: \.id) { candidate in
            var media = LessonMedia(video: Self.file(at: candidate.video, name: candidate.id, projectDirectory: projectDirectory))
            let stem = (candidate.video as NSString).deletingPathExtension
            if let captions = Self.captionExtensions.map({ stem + "." + $0 }).first(where: { FileManager.default.fileExists(atPath: $0) }) {
                media.captions = Self.file(at: captions, name: (candidate.id as NSString).deletingPathExtension + "." + (captions as NSString).pathExtension,
                                           projectDirectory: projectDirectory)
            }
            return media
        }
    }

    /// A local file, with its size and modification time as its marker; a manifest names it relative to the
    /// project when it is inside it.
    static func file(at path: String, name: String?, projectDirectory: String) -> RemoteFile {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.int64Value
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970
        return RemoteFile(name: name ?? (path as NSString).lastPathComponent, fetch: .local(path: path),
                          marker: size.flatMap { size in modified.map { "\(size)|\($0)" } }, markerKey: "file:" + path, bytes: size,
                          reference: ["file": path.hasPrefix(projectDirectory + "/") ? String(path.dropFirst(projectDirectory.count + 1)) : path])
    }
}
