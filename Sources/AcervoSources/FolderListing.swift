import AcervoEngine
#if canImport(Glibc)
import Glibc
#endif

/// One entry of a folder as the file system has it. Names are bytes, and need not be UTF-8: a course copied
/// from an old disk may have a Latin-1 name, which FileManager would silently leave out.
struct FolderEntry: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case folder
        case regularFile
        /// A FIFO, a socket, a device, a dangling link: never read (a FIFO would block forever).
        case other(String)
    }

    /// The name, or nil when its bytes are not UTF-8.
    var name: String?
    /// The name for messages and ids: UTF-8 as it is, other bytes as `\xNN`.
    var shown: String
    /// What the entry is, symbolic links followed.
    var kind: Kind
}

enum FolderListing {
    /// The entries of `path` (hidden ones skipped), sorted by shown name.
    static func entries(of path: String) throws -> [FolderEntry] {
        guard let directory = opendir(path) else {
            throw SourceError("cannot read the folder \(path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var entries: [FolderEntry] = []
        while let entry = readdir(directory) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            guard bytes.first != 0x2E else { continue }  // `.`, `..` and hidden entries
            let name = String(validating: bytes, as: UTF8.self)
            entries.append(FolderEntry(name: name, shown: name.map(controlsEscaped) ?? escaped(bytes), kind: kind(of: Array(path.utf8) + [0x2F] + bytes)))
        }
        return entries.sorted { $0.shown < $1.shown }
    }

    /// A name with its invisible characters (a line break, a tab) as `\xNN`: printed raw, one would break the
    /// line of a message or a log.
    static func controlsEscaped(_ name: String) -> String {
        guard name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return name }
        var shown = ""
        for scalar in name.unicodeScalars {
            if scalar.properties.generalCategory == .control, scalar.value < 0x100 {
                shown += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }

    /// UTF-8 runs as they are, every other byte as `\xNN`.
    static func escaped(_ bytes: [UInt8]) -> String {
        var shown = ""
        var start = 0
        while start < bytes.count {
            // The longest valid UTF-8 prefix from `start`, then one escaped byte.
            var end = bytes.count
            while end > start, String(validating: bytes[start..<end], as: UTF8.self) == nil { end -= 1 }
            shown += String(decoding: bytes[start..<end], as: UTF8.self)
            if end < bytes.count {
                shown += "\\x" + String(bytes[end], radix: 16, uppercase: true).leftPadded(to: 2)
                end += 1
            }
            start = end
        }
        return shown
    }

    private static func kind(of path: [UInt8]) -> FolderEntry.Kind {
        var info = stat()
        let found = (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { stat($0.baseAddress!, &info) == 0 }
        }
        guard found else { return .other("a link to nothing") }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .folder
        case S_IFREG: return .regularFile
        case S_IFIFO: return .other("a FIFO (named pipe)")
        case S_IFSOCK: return .other("a socket")
        case S_IFCHR, S_IFBLK: return .other("a device")
        default: return .other("not a file")
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
