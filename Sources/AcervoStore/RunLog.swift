import Foundation

/// The results a run committed, kept as one blob (`results/RUN`) besides their rows in the database: the
/// paid-for part of the store can be rebuilt from the objects alone (`Store.recoverDatabase`) if the database
/// is ever lost. Written as results are committed and stored when the run finishes; a run that commits
/// nothing writes nothing.
public struct RunLog: Sendable, Equatable {
    public var run: String
    public var results: [ActionResult]

    static let header = "acervo-run-log-v1"

    /// A header line naming the run, then one canonical JSON result per line, in the order they were committed.
    static func headerLine(_ run: String) -> [UInt8] { Array("\(header)\t\(run)\n".utf8) }

    static func line(_ result: ActionResult) throws(StoreError) -> [UInt8] {
        try JSONEncoder.canonicalBytes(result, what: "the result \(result.key.hex)") + [10]
    }

    /// Reads a run log; `partial` reads one a writer left unfinished (killed mid-run: its temp file, whose
    /// last line may be cut), keeping every whole line.
    init(parsing bytes: [UInt8], partial: Bool = false) throws(StoreError) {
        var bytes = bytes
        if partial, let end = bytes.lastIndex(of: 10) { bytes = Array(bytes[...end]) }
        var lines = bytes.split(separator: 10)
        guard let first = lines.first, case let header = String(decoding: first, as: UTF8.self), header.hasPrefix(Self.header + "\t") else {
            throw .invalidArgument("not a run log")
        }
        lines.removeFirst()
        run = String(header.dropFirst(Self.header.count + 1))
        var results: [ActionResult] = []
        for line in lines {
            do { results.append(try JSONDecoder().decode(ActionResult.self, from: Data(line))) } catch {
                throw .invalidArgument("a line of the run log of \(run) is not a result")
            }
        }
        self.results = results
    }
}

extension Ref {
    /// Refs under this prefix name runs' logs of committed results.
    public static let runLogPrefix = "results/"
    /// The knowledge base every build moves to its snapshot.
    public static let latestSnapshot = "kb/latest"
}
