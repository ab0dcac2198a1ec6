import AcervoConnectors
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoSinks
import AcervoSources
import AcervoStore
import Foundation

/// The kinds of source, sink and processor this Acervo provides, and how each is made from its typed
/// settings: the one place that knows `hotmart` means `HotmartSource` and `openai` means a vector store.
public enum Registry {
    /// What rules may name.
    public static var processorDescriptors: [ProcessorDescriptor] { ProcessorCatalog.descriptors }

    /// Every processor, cloud ones sharing `connectors` and pricing their calls from the pipeline's prices.
    static func processors(_ pipeline: Pipeline, connectors: ConnectorContext) -> [any Processor] {
        ProcessorCatalog.processors(Providers(connectors: connectors, prices: pipeline.prices))
    }

    /// The pipeline's source; `overridePath` replaces a local course folder (`--source PATH`).
    // Never inlined into async callers: Swift 6.3's optimizer crashes splitting such a coroutine when a
    // typed-throwing initializer is inlined into it.
    @inline(never)
    static func source(_ pipeline: Pipeline, overridePath: String?, connectors: ConnectorContext) throws -> any Source {
        switch pipeline.source {
        case .local(let configured):
            guard let path = overridePath ?? configured else {
                throw AppError.usage("pipeline.yaml: `source: { kind: local }` needs a `path` (or pass --source PATH)")
            }
            let resolved = path.hasPrefix("/") ? path : (overridePath != nil ? FileManager.default.currentDirectoryPath : pipeline.projectDirectory) + "/" + path
            return LocalCourseSource(path: Store.absolute(resolved))
        case .hotmart(let settings):
            if overridePath != nil { throw AppError.usage("--source names a course folder; this pipeline's source is Hotmart") }
            return try HotmartSource(context: connectors, settings: settings, projectDirectory: pipeline.projectDirectory)
        }
    }

    /// The pipeline's sink, or nil when the knowledge base stays in the store (`kind: local`). `vectorStore`
    /// overrides the configured target; `forceOpenAI` makes an OpenAI sink of a local pipeline (`kb sync`).
    @inline(never)  // as `source`
    static func sink(_ sink: SinkSettings, vectorStore: String? = nil, forceOpenAI: Bool = false,
                     connectors: ConnectorContext) throws -> (any Sink)? {
        let settings: OpenAISinkSettings
        switch sink.kind {
        case .local:
            guard forceOpenAI else { return nil }
            settings = OpenAISinkSettings()
        case .openai(let configured):
            settings = configured
        }
        guard let target = vectorStore ?? settings.vectorStore else {
            throw AppError.usage("no vector store: pass --vector-store NAME or set `sink: { kind: openai, vector_store: NAME }`")
        }
        return OpenAIVectorStoreSink(client: try connectors.vectorStores(), vectorStore: target, chunking: settings.chunking)
    }
}
