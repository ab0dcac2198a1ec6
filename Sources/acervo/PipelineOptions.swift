import AcervoConnectors
import AcervoEngine
import AcervoProcessors
import AcervoRules
import AcervoStore
import ArgumentParser
import Foundation

/// Options of the commands that read the rules.
struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "The rules folder (env ACERVO_RULES, default ./rules).")
    var rules: String = ProcessInfo.processInfo.environment["ACERVO_RULES"] ?? "rules"

    @Option(name: .long, help: "Read the course from this folder instead of the one pipeline.yaml names.")
    var source: String?

    func load() throws -> Pipeline {
        do {
            return try RulesLoader(catalog: Self.allDescriptors, sourceArtifacts: Item.artifactNames).load(directory: rules)
        } catch {
            printError("acervo: \(error)")
            throw ExitCode(Exit.usage)
        }
    }

    /// Local and cloud processors' descriptors: what rules may name.
    static var allDescriptors: [ProcessorDescriptor] { Catalog.processors.map(\.descriptor) + CloudCatalog.descriptors }

    /// Runs `body` with an evaluator over local and cloud processors; the cloud processors' HTTP sessions are
    /// closed when it returns. Provider retries are logged on stderr unless `quiet`.
    func withEvaluator<T>(store: Store, pipeline: Pipeline, quiet: Bool, _ body: (Evaluator) async throws -> T) async throws -> T {
        let prices: PriceTable
        do { prices = try PriceTable.load(rulesDirectory: rules) } catch {
            printError("acervo: \(error)")
            throw ExitCode(Exit.usage)
        }
        return try await withConnectors(prices: prices, quiet: quiet) { context in
            try await body(try evaluator(store: store, pipeline: pipeline, context: context))
        }
    }

    private func evaluator(store: Store, pipeline: Pipeline, context: ConnectorContext) throws -> Evaluator {
        do {
            let override = source.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
            let source: any Source
            if pipeline.source["kind"]?.string == "hotmart" {
                let project = (pipeline.directory as NSString).deletingLastPathComponent
                source = try HotmartSource(context: context, config: pipeline.source, projectDirectory: project.isEmpty ? "." : project)
            } else {
                source = try Catalog.source(for: pipeline, overridePath: override)
            }
            return Evaluator(store: store, pipeline: pipeline, source: source,
                             processors: Catalog.processors + CloudCatalog.processors(context: context))
        } catch {
            printError("acervo: \(error)")
            throw ExitCode(Exit.usage)
        }
    }
}

/// Runs `body` with the process's connectors (keys and endpoints from the environment, retries as
/// `ACERVO_RETRY_*` say, retries logged on stderr unless `quiet`), closing their HTTP sessions afterwards.
func withConnectors<T>(prices: PriceTable = PriceTable(), quiet: Bool, _ body: (ConnectorContext) async throws -> T) async throws -> T {
    let environment = ConnectorEnvironment()
    let context = ConnectorContext(environment: environment, prices: prices, retry: environment.retryPolicy,
                                   log: { line in if !quiet { printError("acervo: \(line)") } })
    do {
        let result = try await body(context)
        await context.shutdown()
        return result
    } catch {
        await context.shutdown()
        throw error
    }
}

/// A source or rules problem found while detecting items is a configuration error (exit 2); so is a
/// provider's missing key or URL. A provider failing (a catalog that cannot be listed, a sync that cannot
/// finish) ends the run with exit 1.
func reportingSetupErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await reportingErrors(body)
    } catch let error as ConnectorError {
        printError("acervo: \(error)")
        throw ExitCode(error.kind == .configuration ? Exit.usage : Exit.failedActions)
    } catch let error as SourceError {
        printError("acervo: \(error)")
        throw ExitCode(Exit.usage)
    } catch let error as EngineError {
        printError("acervo: \(error)")
        throw ExitCode(Exit.usage)
    }
}
