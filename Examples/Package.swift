// swift-tools-version:6.0
// Examples of mgllava's library API: a separate package that uses the project as any other package would.
//   swift build --package-path Examples
//   Examples/.build/debug/chat-example --help
import PackageDescription

let package = Package(
    name: "mgllava-examples",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The project itself, by path. `name:` lets targets say `package: "mgllava"` whatever the checkout's folder
        // is called (a path dependency is otherwise known by its folder's name). From another machine:
        // .package(url: "<mgllava's git URL>", branch: "main").
        .package(name: "mgllava", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .executableTarget(
            name: "chat-example",
            dependencies: [
                .product(name: "MGLLaVA", package: "mgllava"),
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .executableTarget(
            name: "boxes-example",
            dependencies: [
                .product(name: "MGLLaVA", package: "mgllava"),
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .executableTarget(
            name: "features-example",
            dependencies: [
                .product(name: "MGLLaVA", package: "mgllava"),
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .executableTarget(
            name: "train-example",
            dependencies: [
                .product(name: "MGConfigs", package: "mgllava"),
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ])
    ]
)
