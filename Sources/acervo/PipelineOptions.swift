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
            return try RulesLoader(catalog: Catalog.processors.map(\.descriptor), sourceArtifacts: Item.artifactNames).load(directory: rules)
        } catch {
            printError("acervo: \(error)")
            throw ExitCode(Exit.usage)
        }
    }

    func evaluator(store: Store, pipeline: Pipeline) throws -> Evaluator {
        do {
            let override = source.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
            let source = try Catalog.source(for: pipeline, overridePath: override)
            return Evaluator(store: store, pipeline: pipeline, source: source, processors: Catalog.processors)
        } catch {
            printError("acervo: \(error)")
            throw ExitCode(Exit.usage)
        }
    }
}

/// A source or rules problem found while detecting items is a configuration error (exit 2).
func reportingSetupErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await reportingErrors(body)
    } catch let error as SourceError {
        printError("acervo: \(error)")
        throw ExitCode(Exit.usage)
    } catch let error as EngineError {
        printError("acervo: \(error)")
        throw ExitCode(Exit.usage)
    }
}
