// swift-tools-version:6.0
// mgllava — MG-LLaVA (arXiv 2406.17770) in Swift: tensor core, models, trainer, evaluation.
import PackageDescription

// Swift 5 language mode: the tensor core keeps a little global state (grad mode, BLAS thread policy) that is
// documented as thread-confined; strict Swift 6 checking would force wrappers on every kernel closure.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v5)
]

let package = Package(
    name: "mgllava",
    platforms: [.macOS(.v13)],
    products: [
        // `import MGLLaVA`: the model, inference (InferencePipeline, ChatSession), images, tokenizers, checkpoints.
        .library(name: "MGLLaVA", targets: ["MGLLaVA"]),
        // Datasets, training (TrainingSession, EmbeddedDefault), evaluation, and the built-in configs
        // (`import MGConfigs` gives tiny_pretrain, tiny_sft and upstream's configs, and re-exports MGTrain).
        .library(name: "MGData", targets: ["MGData"]),
        .library(name: "MGTrain", targets: ["MGTrain"]),
        .library(name: "MGEval", targets: ["MGEval"]),
        .library(name: "MGConfigs", targets: ["MGConfigs"]),
        // `import MGServe`: the OpenAI-compatible server (`ChatServer`, `GenerationWorker`).
        .library(name: "MGServe", targets: ["MGServe"]),
        .executable(name: "mgllava", targets: ["MGLLaVACLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // `swift package generate-documentation --target MGLLaVA` builds the DocC catalog (Sources/MGLLaVA/MGLLaVA.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // `mgllava serve`: the HTTP server (SwiftNIO underneath).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1")
    ],
    targets: [
        // MARK: - System libraries (Debian: libopenblas-dev liblapacke-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libtiff-dev)
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs"),

        // MARK: - Core
        // Hot loops (GELU, depthwise conv) built for the baseline and for AVX2 + FMA, chosen at run time.
        .target(name: "CKernels", path: "Sources/CKernels", linkerSettings: [.linkedLibrary("m")]),
        .target(name: "MGTensor", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: swiftSettings),
        .target(name: "MGNN", dependencies: ["MGTensor"], swiftSettings: swiftSettings),
        .target(name: "MGCheckpoint", dependencies: ["MGTensor", "MGJSON"], swiftSettings: swiftSettings),
        // Strict JSON (the one parser, JSONValue trees built on it, and the syntax check run before Foundation's
        // parsers, which accept trailing commas that upstream's Python refuses) and strict UTF-8 validation.
        .target(name: "MGJSON", swiftSettings: swiftSettings),
        .target(name: "MGTokenizers", dependencies: ["MGJSON"], swiftSettings: swiftSettings),
        // OpenMPI collectives for data-parallel training; libmpi is dlopen'ed at run time, so nothing MPI is needed
        // to build, and only processes launched by mpirun need it installed (Debian: libopenmpi3 openmpi-bin).
        .target(name: "MGDistributed", swiftSettings: swiftSettings, linkerSettings: [.linkedLibrary("dl")]),

        // MARK: - Model parts (each depends only on MGNN / MGTensor, and MGJSON to read its config file)
        .target(name: "MGCLIP", dependencies: ["MGNN", "MGJSON"], swiftSettings: swiftSettings),
        .target(name: "MGConvNeXt", dependencies: ["MGNN", "MGJSON"], swiftSettings: swiftSettings),
        .target(name: "MGFusion", dependencies: ["MGNN"], swiftSettings: swiftSettings),
        .target(name: "MGObjects", dependencies: ["MGNN", "MGJSON"], swiftSettings: swiftSettings),
        .target(name: "MGLLM", dependencies: ["MGNN", "MGJSON"], swiftSettings: swiftSettings),
        // The OWLv2 open-vocabulary detector (MG-LLaVA's box generator): its image processor, the CLIP text tower and
        // the detection heads; the vision tower is MGCLIP's.
        .target(
            name: "MGDetect", dependencies: ["MGNN", "MGJSON", "MGCLIP", "MGCheckpoint", "MGTokenizers"],
            swiftSettings: swiftSettings),

        // MARK: - Assembly, data, training, evaluation
        .target(
            name: "MGLLaVA",
            dependencies: [
                "MGTensor", "MGNN", "MGCheckpoint", "MGJSON", "MGTokenizers", "CImageCodecs",
                "MGCLIP", "MGConvNeXt", "MGFusion", "MGObjects", "MGLLM", "MGDetect"
            ],
            swiftSettings: swiftSettings),
        .target(name: "MGData", dependencies: ["MGLLaVA", "MGJSON"], swiftSettings: swiftSettings),
        .target(
            name: "MGTrain",
            dependencies: ["MGData", "MGJSON", "MGDistributed", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .target(name: "MGEval", dependencies: ["MGLLaVA", "MGData", "MGJSON"], swiftSettings: swiftSettings),
        .target(name: "MGConfigs", dependencies: ["MGTrain", "MGEval"], path: "configs", swiftSettings: swiftSettings),
        // The performance suite as a library: each benchmark measures at real shapes and returns rows against a
        // bound measured in the same run (raw OpenBLAS calls on the same shapes, or the copy bandwidth).
        .target(
            name: "MGBench",
            dependencies: ["MGLLaVA", "MGData", "MGTrain", "MGConfigs", "COpenBLAS"],
            swiftSettings: swiftSettings),
        // `mgllava serve`: the OpenAI-compatible server and its web page.
        .target(
            name: "MGServe",
            dependencies: [
                "MGLLaVA", "MGJSON", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "MGLLaVACLI",
            dependencies: [
                "MGLLaVA", "MGData", "MGTrain", "MGEval", "MGConfigs", "MGBench", "MGServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: swiftSettings),

        // MARK: - Tests
        // Shared test helpers (fixture paths, finite-difference gradient check); fixtures live in Tests/Fixtures.
        .target(
            name: "MGTestSupport", dependencies: ["MGTensor", "MGCheckpoint"], path: "Tests/MGTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGTensorTests", dependencies: ["MGTensor", "MGCheckpoint", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGNNTests", dependencies: ["MGNN", "MGCheckpoint", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGCheckpointTests", dependencies: ["MGCheckpoint", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGDistributedTests", dependencies: ["MGDistributed", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MGTokenizersTests", dependencies: ["MGTokenizers", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGObjectsTests", dependencies: ["MGObjects", "MGCheckpoint", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGLLaVATests", dependencies: ["MGLLaVA", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "MGCLIPTests", dependencies: ["MGLLaVA", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "MGConvNeXtTests", dependencies: ["MGLLaVA", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "MGDetectTests", dependencies: ["MGDetect", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "MGFusionTests", dependencies: ["MGLLaVA", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MGLLMTests", dependencies: ["MGLLaVA", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGConfigsTests", dependencies: ["MGConfigs", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGDataTests", dependencies: ["MGData", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MGTrainTests", dependencies: ["MGConfigs", "MGEval", "MGTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(name: "MGJSONTests", dependencies: ["MGJSON"], swiftSettings: swiftSettings),
        .testTarget(name: "MGEvalTests", dependencies: ["MGEval", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "MGServeTests", dependencies: ["MGServe", "MGTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MGBenchTests", dependencies: ["MGBench", "MGLLaVA", "MGTestSupport"], swiftSettings: swiftSettings),
        // Runs the built `mgllava` executable (the dependency makes SwiftPM build it first).
        .testTarget(
            name: "MGLLaVACLITests", dependencies: ["MGLLaVACLI", "MGLLaVA", "MGTrain", "MGConfigs", "MGTestSupport"],
            swiftSettings: swiftSettings)
    ]
)
