import AcervoEngine
import AcervoRules
import AcervoStore

/// The processors and sources this build of Acervo provides.
public enum Catalog {
    /// Every processor, local ones first.
    public static let processors: [any Processor] = [
        MediaProbe(), AudioExtractor(), KeyframeExtractor(), TesseractOCR(),
        CaptionsProcessor(), MaterialsProcessor(), TaxonomyClassifier(), MarkdownDocument(),
    ]

    /// The source named by `pipeline.yaml`'s `source:` (paths relative to the rules folder's parent, the
    /// project root), or an error saying which kinds exist.
    public static func source(for pipeline: Pipeline, overridePath: String? = nil) throws -> any Source {
        let kind = pipeline.source["kind"]?.string ?? "local"
        switch kind {
        case "local":
            guard let path = overridePath ?? pipeline.source["path"]?.string else {
                throw SourceError("pipeline.yaml: `source: { kind: local }` needs a `path` (or pass --source PATH)")
            }
            let base = (pipeline.directory as NSString).deletingLastPathComponent
            return LocalCourseSource(path: path.hasPrefix("/") ? path : (base.isEmpty ? "." : base) + "/" + path)
        default:
            throw SourceError("pipeline.yaml: unknown source kind `\(kind)`; this Acervo knows `local` and `hotmart`")
        }
    }
}

import Foundation
