import AcervoTestSupport
import Foundation
import Testing

/// The module graph of docs/architecture.md is the code's, and every arrow points down.
@Suite struct ArchitectureTests {
    /// Each module's layer: a module may import only modules of lower layers — so the engine, the formats and
    /// the connectors never import one another, and nothing imports the application layer but front ends.
    static let layers: [String: Int] = [
        // AcervoTestSupport (temp folders, processes, a seeded generator) imports nothing of Acervo; only tests
        // and the crash-test tool use it.
        "CAcervoShims": 0, "AcervoTestSupport": 0, "AcervoStore": 1, "AcervoRules": 1, "AcervoTools": 1,
        "AcervoFormats": 2, "AcervoEngine": 2, "AcervoConnectors": 2,
        "AcervoProcessors": 3, "AcervoSources": 3, "AcervoSinks": 3,
        "AcervoApp": 4, "AcervoServer": 5,
        "acervo": 6, "acervo-bench": 6, "acervo-torture": 6, "acervo-fuzz": 6, "acervo-soak": 6,
    ]

    /// Module → the Acervo modules its sources import.
    func imports() throws -> [String: Set<String>] {
        var graph: [String: Set<String>] = [:]
        let sources = repositoryRoot + "/Sources"
        for module in try FileManager.default.contentsOfDirectory(atPath: sources) {
            var imported = Set<String>()
            for file in FileManager.default.enumerator(atPath: sources + "/" + module)?.compactMap({ $0 as? String }) ?? [] where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: sources + "/" + module + "/" + file, encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ").map(String.init)
                    guard let index = words.firstIndex(of: "import"), index + 1 < words.count, words.count == index + 2 else { continue }
                    let name = words[index + 1]
                    if name.hasPrefix("Acervo") || name == "CAcervoShims" { imported.insert(name) }
                }
            }
            graph[module] = imported
        }
        return graph
    }

    @Test func `every import points to a lower layer`() throws {
        for (module, imported) in try imports() {
            let layer = try #require(Self.layers[module], "module \(module) has no layer here: give it one")
            for target in imported {
                let below = try #require(Self.layers[target], "\(target) has no layer")
                #expect(below < layer, "\(module) (layer \(layer)) imports \(target) (layer \(below)): an arrow pointing up or sideways")
            }
        }
    }

    /// Target → the targets `Package.swift` says it depends on (the quoted names in its `dependencies: [ … ]`).
    func declaredDependencies() throws -> [String: Set<String>] {
        let manifest = try String(contentsOfFile: repositoryRoot + "/Package.swift", encoding: .utf8)
        var declared: [String: Set<String>] = [:]
        for match in manifest.matches(of: /\.(?:target|executableTarget|testTarget)\(\s*name: "([^"]+)"/) {
            let name = String(match.1)
            let rest = manifest[match.range.upperBound...]
            // This target's own arguments end where the next target begins.
            let end = rest.firstMatch(of: /\.(?:target|executableTarget|testTarget)\(/)?.range.lowerBound ?? rest.endIndex
            let body = rest[..<end]
            guard let start = body.range(of: "dependencies: [") else { declared[name] = []; continue }
            var depth = 1
            var index = start.upperBound
            while index < body.endIndex, depth > 0 {
                if body[index] == "[" { depth += 1 } else if body[index] == "]" { depth -= 1 }
                index = body.index(after: index)
            }
            let list = body[start.upperBound..<index]
            declared[name] = Set(list.matches(of: /"([A-Za-z-]+)"/).map { String($0.1) })
        }
        return declared
    }

    @Test func `Package.swift declares every Acervo module a target imports`() throws {
        let declared = try declaredDependencies()
        for (module, imported) in try imports() where module != "CAcervoShims" {
            let dependencies = try #require(declared[module], "\(module) is not a target in Package.swift")
            for target in imported {
                #expect(dependencies.contains(target), "\(module) imports \(target) without declaring it in Package.swift (it compiles only transitively)")
            }
        }
    }

    @Test func `docs/architecture.md shows the graph the code has`() throws {
        let printed = try run("/bin/bash", [repositoryRoot + "/scripts/module-graph"])
        #expect(printed.status == 0, "\(printed.stderr)")
        let page = try String(contentsOfFile: repositoryRoot + "/docs/architecture.md", encoding: .utf8)
        #expect(page.contains(printed.stdout), "the module graph changed: paste the output of scripts/module-graph into docs/architecture.md")
        for module in try imports().keys where module != "CAcervoShims" {
            #expect(page.contains("**`\(module)`**"), "docs/architecture.md says nothing of \(module)")
        }
    }
}
