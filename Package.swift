// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Acervo",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "acervo", targets: ["acervo"]),
        .library(name: "AcervoStore", targets: ["AcervoStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
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
        .target(
            name: "AcervoRules",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "AcervoEngine",
            dependencies: ["AcervoStore", "AcervoRules"]
        ),
        .target(
            name: "AcervoProcessors",
            dependencies: [
                "AcervoEngine", "AcervoStore", "AcervoRules",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .target(
            name: "AcervoConnectors",
            dependencies: [
                "AcervoEngine", "AcervoStore", "AcervoRules", "AcervoProcessors",
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "acervo",
            dependencies: [
                "AcervoStore",
                "AcervoEngine",
                "AcervoProcessors",
                "AcervoConnectors",
                "AcervoRules",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "acervo-bench",
            dependencies: ["AcervoStore", "AcervoEngine", "AcervoRules", "AcervoProcessors"]
        ),
        .target(
            name: "AcervoTestSupport",
            path: "Tests/AcervoTestSupport"
        ),
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
        .testTarget(
            name: "AcervoConnectorsTests",
            dependencies: ["AcervoConnectors", "AcervoEngine", "AcervoStore", "AcervoRules", "AcervoTestSupport", "AcervoFakeServers", "acervo"]
        ),
        .testTarget(
            name: "AcervoStoreTests",
            dependencies: ["AcervoStore", "AcervoTestSupport", "acervo"]
        ),
        .testTarget(
            name: "AcervoRulesTests",
            dependencies: ["AcervoRules"]
        ),
        .testTarget(
            name: "AcervoProcessorsTests",
            dependencies: ["AcervoProcessors", "AcervoEngine", "AcervoStore", "AcervoRules", "AcervoTestSupport", "acervo"]
        ),
        .testTarget(
            name: "AcervoEngineTests",
            dependencies: ["AcervoEngine", "AcervoStore", "AcervoRules", "AcervoTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
