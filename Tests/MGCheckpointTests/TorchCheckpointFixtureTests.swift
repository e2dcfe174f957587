import Foundation
import XCTest
@testable import MGCheckpoint
import MGTestSupport

/// Real torch.save files (PyTorch 2.13 / mmengine 0.10.7 / open_clip 3.3.0; see Tests/Fixtures/README.md). The
/// expected values were computed at development time with Python's zipfile + numpy, decoding the same storage
/// bytes (`np.frombuffer` on `data/<key>`, strided as the pickle says; bf16 widened by a 16-bit shift).
final class TorchCheckpointFixtureTests: XCTestCase {
    let pretrain = Fixtures.url("models/mgllava-tiny/pretrain.pth")
    let sft = Fixtures.url("models/mgllava-tiny/sft.pth")
    let openCLIP = Fixtures.url("models/convnext-tiny/open_clip_pytorch_model.bin")
    let malicious = Fixtures.url("models/mgllava-tiny/malicious.pth")
    let truncated = Fixtures.url("models/mgllava-tiny/truncated.pth")

    /// The 20 MG-LLaVA keys (fixtures README, models/mgllava-tiny), in file order, with their shapes.
    static let pretrainKeys: [(String, [Int])] = [
        ("projector.model.0.weight", [64, 32]), ("projector.model.0.bias", [64]),
        ("projector.model.2.weight", [64, 64]), ("projector.model.2.bias", [64]),
        ("bbox_projector.model.0.weight", [64, 80]), ("bbox_projector.model.0.bias", [64]),
        ("bbox_projector.model.2.weight", [64, 64]), ("bbox_projector.model.2.bias", [64]),
        ("fuse_module.slow_conv.weight", [32, 32, 1, 1]), ("fuse_module.slow_conv.bias", [32]),
        ("fuse_module.slow_proj.weight", [32, 32, 1, 1]), ("fuse_module.slow_proj.bias", [32]),
        ("fuse_module.fast_conv.weight", [32, 1, 7, 7]), ("fuse_module.fast_conv.bias", [32]),
        ("fuse_module.fast_proj.weight", [32, 32, 1, 1]), ("fuse_module.fast_proj.bias", [32]),
        ("fuse_module.gate.0.weight", [16, 64]), ("fuse_module.gate.0.bias", [16]),
        ("fuse_module.gate.2.weight", [1, 16]), ("fuse_module.gate.2.bias", [1])
    ]

    func assertValues(
        _ t: Tensor, first: Float, seventh: Float, last: Float, sum: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let values = t.toArray()
        XCTAssertEqual(values.first, first, file: file, line: line)
        XCTAssertEqual(values[min(7, values.count - 1)], seventh, file: file, line: line)
        XCTAssertEqual(values.last, last, file: file, line: line)
        XCTAssertEqual(
            values.reduce(0.0) { $0 + Double($1) }, sum, accuracy: 1e-9 * Double(values.count),
            file: file, line: line)
    }

    // MARK: - mmengine checkpoints

    func testPretrainStateDict() throws {
        let file = try TorchCheckpointFile(url: pretrain)
        XCTAssertEqual(file.archiveName, "pretrain")
        XCTAssertEqual(file.version, "3")
        XCTAssertFalse(file.isBigEndian)

        let infos = try file.tensorInfos()
        XCTAssertEqual(infos.map(\.name), Self.pretrainKeys.map(\.0))
        XCTAssertEqual(infos.map(\.shape), Self.pretrainKeys.map(\.1))
        XCTAssertTrue(infos.allSatisfy { $0.dtype.safetensors == .F32 && $0.loadDType == .float32 && $0.isContiguous })
        XCTAssertEqual(infos.map(\.storageKey), (0..<20).map(String.init))
        // fast_conv.weight is [32, 1, 7, 7] with stride (49, 49, 7, 1): the size-1 dim's stride is free.
        XCTAssertEqual(try file.info(for: "fuse_module.fast_conv.weight").stride, [49, 49, 7, 1])

        let weight = try file.tensor("projector.model.0.weight")
        XCTAssertEqual(weight.dtype, .float32)
        XCTAssertTrue(file.holds(weight), "torch aligns data to 64 bytes: zero-copy")
        assertValues(
            weight, first: -0.22054338455200195, seventh: -0.02168222703039646, last: 0.04448816552758217,
            sum: -2.060081933675974)
        let fastConv = try file.tensor("fuse_module.fast_conv.weight")
        XCTAssertTrue(file.holds(fastConv))
        assertValues(
            fastConv, first: -0.02719099260866642, seventh: 0.04429217800498009,
            last: -0.06786983460187912, sum: 4.199943534309114)
        assertValues(
            try file.tensor("bbox_projector.model.2.bias"), first: 0.17611609399318695,
            seventh: -0.08810027688741684, last: -0.05134449154138565, sum: 0.0036415191716514528)
        let gateBias = try file.tensor("fuse_module.gate.2.bias", copy: true)
        XCTAssertFalse(file.holds(gateBias))
        XCTAssertEqual(gateBias.shape, [1])
        XCTAssertEqual(gateBias.toArray(), [-0.0069829258136451244])

        let all = try file.stateDict()
        XCTAssertEqual(Set(all.keys), Set(Self.pretrainKeys.map(\.0)))
        XCTAssertEqual(all["fuse_module.gate.0.weight"]?.shape, [16, 64])
        XCTAssertEqual(
            expectTorchError { try file.tensor("llm.lm_head.weight") },
            .tensorNotFound(path: pretrain.path, key: "llm.lm_head.weight"))
    }

    /// The rest of the mmengine checkpoint is readable as data, and the classes `weights_only` refuses are listed.
    func testPretrainMetadataAndOpaqueGlobals() throws {
        let file = try TorchCheckpointFile(url: pretrain)
        let root = file.root
        XCTAssertEqual(root.kind, .dict)
        XCTAssertEqual(
            root.entries?.map { $0.key.string ?? "?" },
            [
                "meta", "state_dict", "message_hub",
                "param_schedulers"
            ])
        XCTAssertTrue(root["state_dict"]?.isOrderedDict ?? false)
        let meta = try XCTUnwrap(root["meta"])
        XCTAssertEqual(meta["seed"]?.int, 2024)
        XCTAssertEqual(meta["iter"]?.int, 4947)
        XCTAssertEqual(meta["mmengine_version"]?.string, "0.10.7")
        XCTAssertTrue(meta["dataset_meta"]?.isNone ?? false)
        XCTAssertTrue(meta["cfg"]?.string?.hasPrefix("# tiny MG-LLaVA stack (fixture)") ?? false)
        // grad_scale is numpy.float32 65536 as numpy pickles it: scalar(dtype('f4'), _codecs.encode(bytes)).
        let gradScale = try XCTUnwrap(meta["grad_scale"]?.call)
        XCTAssertEqual(gradScale.callee.globalName, "numpy._core.multiarray.scalar")
        XCTAssertEqual(gradScale.args.elements?.last?.bytes, [0x00, 0x00, 0x80, 0x47])
        XCTAssertEqual(root["param_schedulers"]?.count, 2)
        XCTAssertEqual(root["param_schedulers"]?.elements?.first?["total_iters"]?.int, 147)
        let history = try XCTUnwrap(root["message_hub"]?["log_scalars"]?["train/lr"])
        XCTAssertEqual(history.globalName, "mmengine.logging.history_buffer.HistoryBuffer")

        XCTAssertEqual(
            Set(file.opaqueGlobals),
            [
                "numpy._core.multiarray.scalar", "numpy.dtype", "mmengine.logging.history_buffer.HistoryBuffer",
                "numpy._core.multiarray._reconstruct", "numpy.ndarray",
                "mmengine.logging.history_buffer.HistoryBuffer.min",
                "mmengine.logging.history_buffer.HistoryBuffer.max",
                "mmengine.logging.history_buffer.HistoryBuffer.current",
                "mmengine.logging.history_buffer.HistoryBuffer.mean"
            ])
        XCTAssertEqual(file.opaqueGlobals.first, "numpy._core.multiarray.scalar")
    }

    func testSFTIsBFloat16() throws {
        let file = try TorchCheckpointFile(url: sft)
        let infos = try file.tensorInfos()
        XCTAssertEqual(infos.count, 41)
        XCTAssertEqual(infos.first?.name, "llm.model.embed_tokens.weight")
        XCTAssertEqual(infos.first?.shape, [700, 64])
        XCTAssertEqual(Array(infos.suffix(20).map(\.name)), Self.pretrainKeys.map(\.0), "pretrain keys follow llm.*")
        XCTAssertTrue(infos.prefix(21).allSatisfy { $0.name.hasPrefix("llm.") })
        XCTAssertTrue(infos.allSatisfy { $0.dtype.safetensors == .BF16 && $0.loadDType == .bfloat16 })

        let embed = try file.tensor("llm.model.embed_tokens.weight")
        XCTAssertEqual(embed.dtype, .bfloat16)
        XCTAssertTrue(file.holds(embed))
        XCTAssertEqual(Array(rawBytes(embed).prefix(2)), [0x2D, 0x3E], "bf16 0x3e2d = 0.1689453125")
        assertValues(
            embed.float(), first: 0.1689453125, seventh: 0.08349609375, last: 0.44140625,
            sum: 35.944304034113884)
        assertValues(
            try file.tensor("llm.lm_head.weight").float(), first: 0.01300048828125,
            seventh: 0.02978515625, last: 0.0849609375, sum: 47.964658707380295)
        assertValues(
            try file.tensor("projector.model.0.weight").float(), first: -0.228515625,
            seventh: -0.032958984375, last: 0.0439453125, sum: -2.393218517303467)
        XCTAssertEqual(try file.tensor("fuse_module.gate.2.bias").float().toArray(), [-0.006500244140625])
    }

    // MARK: - open_clip

    /// The trunk keys MG-LLaVA uses, generated from the tiny ConvNeXt's depths (1, 1, 2, 1) and widths
    /// (8, 16, 24, 32) with the key families of the fixtures README (real-configs notes, open_clip ConvNeXt).
    static func trunkKeys() -> [(String, [Int])] {
        let depths = [1, 1, 2, 1], dims = [8, 16, 24, 32]
        var keys: [(String, [Int])] = [
            ("visual.trunk.stem.0.weight", [8, 3, 4, 4]), ("visual.trunk.stem.0.bias", [8]),
            ("visual.trunk.stem.1.weight", [8]), ("visual.trunk.stem.1.bias", [8])
        ]
        for s in 0..<4 {
            let c = dims[s]
            let stage = "visual.trunk.stages.\(s)"
            if s > 0 {
                keys += [
                    ("\(stage).downsample.0.weight", [dims[s - 1]]), ("\(stage).downsample.0.bias", [dims[s - 1]]),
                    ("\(stage).downsample.1.weight", [c, dims[s - 1], 2, 2]), ("\(stage).downsample.1.bias", [c])
                ]
            }
            for b in 0..<depths[s] {
                let block = "\(stage).blocks.\(b)"
                keys += [
                    ("\(block).gamma", [c]), ("\(block).conv_dw.weight", [c, 1, 7, 7]), ("\(block).conv_dw.bias", [c]),
                    ("\(block).norm.weight", [c]), ("\(block).norm.bias", [c]),
                    ("\(block).mlp.fc1.weight", [4 * c, c]), ("\(block).mlp.fc1.bias", [4 * c]),
                    ("\(block).mlp.fc2.weight", [c, 4 * c]), ("\(block).mlp.fc2.bias", [c])
                ]
            }
        }
        keys += [("visual.trunk.head.norm.weight", [32]), ("visual.trunk.head.norm.bias", [32])]
        return keys
    }

    func testOpenCLIPBinTrunk() throws {
        let file = try TorchCheckpointFile(url: openCLIP)
        XCTAssertEqual(file.archiveName, "open_clip_pytorch_model")
        XCTAssertTrue(file.root.isOrderedDict, "a bare state dict at the root")
        XCTAssertEqual(file.opaqueGlobals, [])
        let infos = try file.tensorInfos()
        XCTAssertEqual(infos.count, 84)
        let trunk = infos.filter { $0.name.hasPrefix("visual.trunk.") }
        let expected = Self.trunkKeys()
        XCTAssertEqual(trunk.count, 63)
        XCTAssertEqual(trunk.map(\.name), expected.map(\.0))
        XCTAssertEqual(trunk.map(\.shape), expected.map(\.1))
        XCTAssertTrue(infos.allSatisfy { $0.dtype.safetensors == .F32 })

        let scale = try file.tensor("logit_scale")
        XCTAssertEqual(scale.shape, [], "0-d tensor")
        XCTAssertEqual(scale.toArray(), [2.6592600345611572])
        assertValues(
            try file.tensor("visual.trunk.stem.0.weight"), first: -0.11631102114915848,
            seventh: 0.019927604123950005, last: 0.04823458567261696, sum: -0.4613093566877069)
        assertValues(
            try file.tensor("visual.trunk.head.norm.bias"), first: -0.13391940295696259,
            seventh: 0.07582486420869827, last: -0.11743704229593277, sum: -0.2706103913951665)
    }

    // MARK: - Refused files

    func testMaliciousFileIsRefusedAtTheFirstCall() throws {
        let error = expectTorchError { try TorchCheckpointFile(url: malicious) }
        guard case let .codeExecution(path, entry, offset, callee, call)? = error else {
            return XCTFail("expected a code-execution refusal, got \(String(describing: error))")
        }
        XCTAssertEqual(path, malicious.path)
        XCTAssertEqual(entry, "archive/data.pkl")
        XCTAssertEqual(callee, "os.system")
        XCTAssertEqual(call, "os.system('echo MALICIOUS_PTH_EXECUTED')")
        // The REDUCE of os.system sits at byte 81 (pickletools); the file's only storage reference (BINPERSID)
        // comes at byte 258 and its tensor REDUCE at 281, so the refusal happens before any storage or tensor
        // is even looked at.
        XCTAssertEqual(offset, 81)
        XCTAssertTrue(
            error?.description.contains(
                "archive/data.pkl calls os.system('echo MALICIOUS_PTH_EXECUTED') "
                    + "at byte 81; refusing a file that would run code under torch.load")
                ?? false, error?.description ?? "")
    }

    func testTruncatedFileFails() throws {
        let error = expectTorchError { try TorchCheckpointFile(url: truncated) }
        guard case let .corruptZip(_, _, reason)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(reason.contains("no end-of-central-directory record"), reason)
        XCTAssertTrue(error?.description.contains(truncated.path) ?? false)
    }

    func testFileErrors() throws {
        let folder = try makeTemporaryFolder(self)
        let empty = folder.appendingPathComponent("empty.pth")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        XCTAssertEqual(
            expectTorchError { try TorchCheckpointFile(url: empty) },
            .notATorchSave(path: empty.path, detail: "the file is empty"))
        let missing = folder.appendingPathComponent("missing.pth")
        XCTAssertEqual(
            expectTorchError { try TorchCheckpointFile(url: missing) },
            .io(path: missing.path, operation: "open", errno: ENOENT))
        XCTAssertEqual(expectTorchError { try TorchCheckpointFile(url: folder) }, .notARegularFile(path: folder.path))
    }
}
