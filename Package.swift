// swift-tools-version:6.1
import PackageDescription

// The module graph (docs/architecture.md): dependencies point one way, from the CLI down to the store.
let package = Package(
    name: "Acervo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "acervo", targets: ["acervo"]),
        .library(name: "AcervoStore", targets: ["AcervoStore"]),
        .library(name: "AcervoApp", targets: ["AcervoApp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(name: "CAcervoShims"),
        .target(
            name: "AcervoStore",
            dependencies: [
                "CAcervoShims",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(name: "AcervoRules", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Local programs (ffmpeg, tesseract, pdftotext) run in process groups of their own that die with Acervo.
        .target(name: "AcervoTools", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")]),
        .target(name: "AcervoFormats", dependencies: ["AcervoStore", "AcervoRules"]),
        .target(name: "AcervoEngine", dependencies: ["AcervoStore", "AcervoRules"]),
        .target(
            name: "AcervoConnectors",
            dependencies: [
                "AcervoStore", "AcervoRules",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "AcervoProcessors",
            dependencies: [
                "AcervoEngine", "AcervoStore", "AcervoRules", "AcervoFormats", "AcervoConnectors", "AcervoTools",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "AcervoSources",
            dependencies: ["AcervoEngine", "AcervoStore", "AcervoRules", "AcervoConnectors", "AcervoTools", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "AcervoSinks", dependencies: ["AcervoEngine", "AcervoStore", "AcervoRules", "AcervoConnectors"]),
        .target(
            name: "AcervoApp",
            dependencies: ["AcervoStore", "AcervoRules", "AcervoEngine", "AcervoConnectors", "AcervoProcessors", "AcervoSources", "AcervoSinks", "AcervoTools"]
        ),
        .target(
            name: "AcervoServer",
            dependencies: [
                "AcervoApp", "AcervoStore", "AcervoRules", "AcervoEngine", "AcervoConnectors",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "acervo",
            dependencies: ["AcervoApp", "AcervoServer", "AcervoStore", "AcervoEngine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // Crash-test tooling, outside the binary users install: a writer that tests kill at random moments.
        .executableTarget(name: "acervo-torture", dependencies: ["AcervoStore", "AcervoTestSupport"]),
        // The service's soak: two hundred scheduled nights in one process, its memory measured.
        .executableTarget(
            name: "acervo-soak",
            dependencies: ["AcervoServer", .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        .executableTarget(name: "acervo-fuzz", dependencies: ["AcervoFormats", "AcervoRules", "AcervoTestSupport"]),
        .executableTarget(
            name: "acervo-bench",
            dependencies: ["AcervoApp", "AcervoProcessors", "AcervoFormats", "AcervoStore", "AcervoEngine", "AcervoRules"]
        ),
        .target(name: "AcervoTestSupport", path: "Tests/AcervoTestSupport"),
        .target(
            name: "AcervoFakeServers",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/AcervoFakeServers"
        ),
        // Test targets depend on what they test; only the CLI's own tests need the whole `acervo` binary.
        .testTarget(name: "AcervoStoreTests", dependencies: ["AcervoStore", "AcervoTestSupport", "acervo-torture"]),
        .testTarget(name: "AcervoRulesTests", dependencies: ["AcervoRules"]),
        .testTarget(name: "AcervoEngineTests", dependencies: ["AcervoEngine", "AcervoStore", "AcervoRules", "AcervoTestSupport"]),
        .testTarget(
            name: "AcervoConnectorsTests",
            dependencies: ["AcervoConnectors", "AcervoStore", "AcervoTestSupport", "AcervoFakeServers"]
        ),
        .testTarget(
            name: "AcervoProcessorsTests",
            dependencies: ["AcervoProcessors", "AcervoFormats", "AcervoEngine", "AcervoStore", "AcervoRules", "AcervoConnectors", "AcervoTools",
                           "AcervoTestSupport", "AcervoFakeServers"],
            exclude: ["Captions"]
        ),
        .testTarget(
            name: "AcervoServerTests",
            dependencies: ["AcervoServer", "AcervoApp", "AcervoStore", "AcervoRules", "AcervoEngine", "AcervoTestSupport", "AcervoFakeServers",
                           "acervo", "acervo-torture", "acervo-soak",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        .testTarget(
            name: "AcervoAppTests",
            dependencies: ["AcervoApp", "AcervoSources", "AcervoSinks", "AcervoProcessors", "AcervoFormats", "AcervoEngine", "AcervoStore",
                           "AcervoRules", "AcervoConnectors", "AcervoTools", "AcervoTestSupport", "AcervoFakeServers", "acervo", "acervo-torture", "acervo-fuzz"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
