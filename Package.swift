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
        .executableTarget(
            name: "acervo",
            dependencies: [
                "AcervoStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "acervo-bench",
            dependencies: ["AcervoStore"]
        ),
        .testTarget(
            name: "AcervoStoreTests",
            dependencies: ["AcervoStore", "acervo"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
