import MGNN

// Small module trees shaped like the real models' key layouts, shared by the tests.

final class TinyAttention: Module {
    let qProj: Linear
    let kProj: Linear

    init(dim: Int, generator: inout Generator) {
        qProj = Linear(dim, dim).initialize(generator: &generator)
        kProj = Linear(dim, dim, bias: false).initialize(generator: &generator)
    }

    override var children: [(String, Module)] { [("q_proj", qProj), ("k_proj", kProj)] }
}

final class TinyBlock: Module {
    let selfAttn: TinyAttention
    let norm: LayerNorm
    let scale: Parameter

    init(dim: Int, generator: inout Generator) {
        selfAttn = TinyAttention(dim: dim, generator: &generator)
        norm = LayerNorm(dim)
        scale = Parameter(Tensor.ones([dim]))
    }

    override var ownParameters: [(String, Parameter)] { [("scale", scale)] }
    override var children: [(String, Module)] { [("self_attn", selfAttn), ("layer_norm", norm)] }
}

final class TinyEncoder: Module {
    let layers: ModuleList<TinyBlock>

    init(dim: Int, count: Int, generator: inout Generator) {
        var blocks: [TinyBlock] = []
        for _ in 0..<count { blocks.append(TinyBlock(dim: dim, generator: &generator)) }
        layers = ModuleList(blocks)
    }

    override var children: [(String, Module)] { [("layers", layers)] }
}

/// MG-LLaVA's projector layout: `model.0` Linear, `model.1` GELU (no parameters), `model.2` Linear.
final class TinyProjector: Module {
    let model: Sequential

    init(inDim: Int, outDim: Int, generator: inout Generator) {
        model = Sequential(
            Linear(inDim, outDim).initialize(generator: &generator),
            ActivationLayer(.gelu),
            Linear(outDim, outDim).initialize(generator: &generator))
    }

    override var children: [(String, Module)] { [("model", model)] }
}

final class TinyModel: Module {
    let encoder: TinyEncoder
    let projector: TinyProjector
    let llm: RMSNorm
    let llmExtra: Linear
    let dropout: Dropout
    let positions: Buffer

    init(seed: UInt64 = 1) {
        var gen = Generator(seed: seed)
        encoder = TinyEncoder(dim: 4, count: 2, generator: &gen)
        projector = TinyProjector(inDim: 4, outDim: 3, generator: &gen)
        llm = RMSNorm(3)
        llmExtra = Linear(3, 2).initialize(generator: &gen)
        dropout = Dropout(p: 0.5, seed: 3)
        positions = Buffer(Tensor(int64: [0, 1, 2], shape: [3]))
    }

    override var ownBuffers: [(String, Buffer)] { [("position_ids", positions)] }
    override var children: [(String, Module)] {
        [("encoder", encoder), ("projector", projector), ("llm", llm), ("llm_extra", llmExtra), ("dropout", dropout)]
    }
}
