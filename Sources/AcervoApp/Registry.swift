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

    /// The pipeline's source (its `sources`, read one after the other); `overridePath` replaces a local course
    /// folder (`--source PATH`).
    // Never inlined into async callers: Swift 6.3's optimizer crashes splitting such a coroutine when a
    // typed-throwing initializer is inlined into it.
    @inline(never)
    static func source(_ pipeline: Pipeline, overridePath: String?, connectors: ConnectorContext) throws -> any Source {
        if overridePath != nil, pipeline.sources.count != 1 || pipeline.sources.first?.settings.kind != "local" {
            throw AppError.usage("--source names a course folder; this pipeline's \(pipeline.sources.count == 1 ? "source is Hotmart" : "sources are several")")
        }
        let sources = try pipeline.sources.map { spec throws -> CombinedSource.Part in
            switch spec.settings {
            case .local(let configured):
                guard let path = overridePath ?? configured else {
                    throw AppError.usage("pipeline.yaml: `source: { kind: local }` needs a `path` (or pass --source PATH)")
                }
                let resolved = path.hasPrefix("/") ? path : (overridePath != nil ? FileManager.default.currentDirectoryPath : pipeline.projectDirectory) + "/" + path
                return CombinedSource.Part(name: spec.name, source: LocalCourseSource(path: Store.absolute(resolved)), addedPrefix: spec.idPrefix,
                                           ownedPrefix: spec.idPrefix)
            case .hotmart(let settings):
                let source = try HotmartSource(context: connectors, settings: settings, projectDirectory: pipeline.projectDirectory, idPrefix: spec.idPrefix)
                return CombinedSource.Part(name: spec.name, source: source, addedPrefix: "", ownedPrefix: spec.idPrefix)
            }
        }
        if sources.count == 1, sources[0].addedPrefix.isEmpty { return sources[0].source }
        return CombinedSource(parts: sources)
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
