import XCTest
import MGNN

final class ModuleTests: XCTestCase {
    func testKeysFollowDeclarationOrderWithIndexedListsAndSequential() {
        let model = TinyModel()
        let block = [
            "scale", "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight",
            "layer_norm.weight", "layer_norm.bias"
        ]
        let expected =
            block.map { "encoder.layers.0." + $0 } + block.map { "encoder.layers.1." + $0 } + [
                "projector.model.0.weight", "projector.model.0.bias", "projector.model.2.weight",
                "projector.model.2.bias",
                "llm.weight", "llm_extra.weight", "llm_extra.bias"
            ]
        XCTAssertEqual(model.namedParameters().map { $0.0 }, expected)
        XCTAssertEqual(model.namedBuffers().map { $0.0 }, ["position_ids"])
        XCTAssertEqual(Set(model.stateDict().keys), Set(expected + ["position_ids"]))
        XCTAssertTrue(model.namedModules().map { $0.0 }.contains("projector.model.1"))
        // 2 × (4 + 16 + 4 + 16 + 4 + 4) + (12 + 3 + 9 + 3) + 3 + (6 + 2)
        XCTAssertEqual(model.parameterCount, 96 + 27 + 3 + 8)
    }

    func testSharedParameterIsListedOnce() {
        var gen = Generator(seed: 5)
        let a = Linear(2, 2, bias: false).initialize(generator: &gen)
        let tied = Linear(weight: a.weight.value, bias: nil)
        final class Tied: Module {
            let a: Linear, b: Linear
            init(_ a: Linear, _ b: Linear) { self.a = a; self.b = b }
            override var children: [(String, Module)] { [("embed", a), ("head", b), ("embed_again", a)] }
        }
        let shared = Tied(a, a)
        XCTAssertEqual(shared.namedParameters().map { $0.0 }, ["embed.weight"])
        XCTAssertEqual(Tied(a, tied).namedParameters().map { $0.0 }, ["embed.weight", "head.weight"])
    }

    func testParameterDeclaredByTwoModulesIsKeptUnderItsFirstKey() throws {
        final class Head: Module {
            let weight: Parameter
            init(_ weight: Parameter) { self.weight = weight }
            override var ownParameters: [(String, Parameter)] { [("weight", weight)] }
        }
        final class TiedLM: Module {
            let embed: Embedding, head: Head
            override init() {
                embed = Embedding(weight: Tensor([1, 2, 3, 4], shape: [2, 2]))
                head = Head(embed.weight)
            }
            override var children: [(String, Module)] { [("embed_tokens", embed), ("lm_head", head)] }
        }
        let model = TiedLM()
        XCTAssertEqual(model.namedParameters().map { $0.0 }, ["embed_tokens.weight"])
        XCTAssertEqual(model.parameterCount, 4)
        try model.load(["embed_tokens.weight": Tensor([5, 6, 7, 8], shape: [2, 2])])
        XCTAssertEqual(model.head.weight.value.toArray(), [5, 6, 7, 8])
    }

    func testFreezeAndUnfreezeMatchWholeKeyComponents() {
        let model = TinyModel()
        XCTAssertEqual(model.freeze(prefix: "llm"), 1)
        XCTAssertTrue(model.llm.weight.frozen)
        XCTAssertFalse(model.llmExtra.weight.frozen, "prefix llm must not match llm_extra")
        XCTAssertEqual(model.freeze(prefix: "encoder.layers.1"), 6)
        XCTAssertTrue(model.encoder.layers[1].selfAttn.qProj.weight.frozen)
        XCTAssertFalse(model.encoder.layers[0].scale.frozen)
        XCTAssertEqual(model.freeze(prefix: "encoder.layers.1.self_attn.q_proj.weight"), 1)
        XCTAssertEqual(model.freeze(prefix: "encoder.layer"), 0, "partial component matches nothing")
        XCTAssertEqual(model.freeze(), model.parameters().count)
        XCTAssertEqual(model.trainableParameterCount, 0)
        XCTAssertEqual(model.unfreeze(prefix: "projector"), 4)
        XCTAssertEqual(model.trainableParameterCount, 27)
        XCTAssertTrue(Module.key("a.b", hasPrefix: "a"))
        XCTAssertTrue(Module.key("a.b", hasPrefix: "a.b"))
        XCTAssertFalse(Module.key("ab.c", hasPrefix: "a"))
        XCTAssertTrue(Module.key("x", hasPrefix: ""))
    }

    func testTrainAndEvalAreRecursiveAndDriveDropout() {
        let model = TinyModel()
        XCTAssertTrue(model.dropout.isTraining)
        model.eval()
        XCTAssertTrue(model.namedModules().allSatisfy { !$0.1.isTraining })
        let x = Tensor.ones([64])
        XCTAssertEqual(model.dropout(x).toArray(), x.toArray(), "eval: identity")
        model.train()
        XCTAssertTrue(model.namedModules().allSatisfy { $0.1.isTraining })
        let y = model.dropout(x).toArray()
        XCTAssertTrue(y.allSatisfy { $0 == 0 || $0 == 2 }, "train: zeros and 1/(1−p)")
        let dropped = y.filter { $0 == 0 }.count
        XCTAssertTrue(dropped > 16 && dropped < 48, "about half dropped, got \(dropped)")
        // The mask comes from the module's seeded generator: same seed, same mask.
        XCTAssertEqual(Dropout(p: 0.5, seed: 3)(x).toArray(), y)
        XCTAssertNotEqual(model.dropout(x).toArray(), y, "the generator advances")
    }

    func testGradientsAccumulateOnParametersAcrossBackwardCalls() {
        let layer = Linear(weight: Tensor([1, 2], shape: [1, 2]), bias: Tensor([0]))
        let x = Tensor([3, 4], shape: [1, 2])
        layer(x).sum().backward()
        XCTAssertEqual(layer.weight.grad?.toArray(), [3, 4])
        layer(x).sum().backward()
        XCTAssertEqual(layer.weight.grad?.toArray(), [6, 8])
        XCTAssertEqual(layer.bias?.grad?.toArray(), [2])
        layer.zeroGrad()
        XCTAssertNil(layer.weight.grad)

        // In-place updates of `value` are seen through the same leaf.
        layer.weight.value.unsafeMutableFloats { $0[0] = 10 }
        XCTAssertEqual(layer(x).toArray(), [38])
        layer(x).sum().backward()
        XCTAssertEqual(layer.weight.grad?.toArray(), [3, 4])

        // Replacing the value starts a new leaf.
        layer.weight.value = Tensor([0, 0], shape: [1, 2])
        XCTAssertNil(layer.weight.grad)
    }

    func testFrozenParametersRecordNothing() {
        let layer = Linear(weight: Tensor([1, 2], shape: [1, 2]), bias: Tensor([0]))
        layer.freeze()
        XCTAssertFalse(layer.weight.tensor.requiresGrad)
        XCTAssertFalse(layer(Tensor([3, 4], shape: [1, 2])).requiresGrad, "no graph when nothing requires grad")
        layer.unfreeze(prefix: "bias")
        let y = layer(Tensor([3, 4], shape: [1, 2]))
        y.sum().backward()
        XCTAssertNil(layer.weight.grad)
        XCTAssertEqual(layer.bias?.grad?.toArray(), [1])
        // Freezing drops what was accumulated.
        layer.bias?.frozen = true
        layer.bias?.frozen = false
        XCTAssertNil(layer.bias?.grad)
    }

    func testAdamWTrainsALinearModelThroughTheModuleAPI() {
        var gen = Generator(seed: 11)
        let model = Linear(3, 1).initialize(generator: &gen)
        let x = Tensor.randn([16, 3], generator: &gen)
        let target = x.linear(weight: Tensor([1, -2, 0.5], shape: [1, 3]), bias: Tensor([0.3]))
        let optimizer = AdamW(model.namedParameters(), lr: 0.05, weightDecay: 0)
        func loss() -> Tensor { let d = model(x) - target; return (d * d).mean() }
        let initial = withNoGrad { loss() }.item()
        for _ in 0..<200 {
            optimizer.zeroGrad()
            loss().backward()
            optimizer.step()
        }
        let final = withNoGrad { loss() }.item()
        XCTAssertLessThan(final, initial * 1e-3, "loss \(initial) → \(final)")
    }
}

final class InPlaceParameterTests: XCTestCase {
    func testInPlaceIsFrozenAndUnfreezingCopies() {
        let p = Parameter(Tensor.zeros([2, 2]))
        let stored = Tensor([1, 2, 3, 4], shape: [2, 2]).converted(to: .bfloat16)
        p.useInPlace(stored)
        XCTAssertTrue(p.frozen)
        XCTAssertTrue(p.isInPlace)
        XCTAssertEqual(p.value.dtype, .bfloat16)
        XCTAssertTrue(p.value.storage === stored.storage, "no copy")
        p.frozen = false
        XCTAssertFalse(p.isInPlace)
        XCTAssertEqual(p.value.dtype, .float32)
        XCTAssertEqual(p.value.toArray(), [1, 2, 3, 4])
        XCTAssertFalse(p.value.storage === stored.storage, "an owned copy before any write")
    }
}
