import Foundation
import MGNN

// The CLIP vision transformer with HF transformers' keys (`vision_model.*`), as MG-LLaVA's low-resolution path
// uses it: patch embedding + class token + learned positions, `pre_layrnorm`, pre-norm encoder layers with
// quick_gelu MLPs, and every layer's hidden state available (MG-LLaVA takes layer −2 without the CLS token).

// MARK: - Config

/// The architecture of a CLIP vision tower (HF `CLIPVisionConfig` fields MG-LLaVA needs).
public struct CLIPVisionArchitecture: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var layerNormEps: Float
    /// "quick_gelu" (OpenAI CLIP), "gelu" or "gelu_new".
    public var hiddenAct: String

    public init(
        hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
        numChannels: Int = 3, imageSize: Int, patchSize: Int, layerNormEps: Float = 1e-5,
        hiddenAct: String = "quick_gelu"
    ) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct
    }

    public var gridSize: Int { imageSize / patchSize }
    public var numPatches: Int { gridSize * gridSize }
    /// Patches + the class token.
    public var numPositions: Int { numPatches + 1 }
    public var headDim: Int { hiddenSize / numAttentionHeads }
}

// MARK: - Blocks

/// `vision_model.embeddings`: conv patchify (no bias) + class embedding + position embedding.
public final class CLIPVisionEmbeddings: Module {
    public let patchEmbedding: Conv2d
    public let classEmbedding: Parameter
    public let positionEmbedding: Embedding
    let arch: CLIPVisionArchitecture

    init(_ arch: CLIPVisionArchitecture) {
        self.arch = arch
        patchEmbedding = Conv2d(
            arch.numChannels, arch.hiddenSize, kernelSize: arch.patchSize, stride: arch.patchSize,
            bias: false)
        classEmbedding = Parameter(Tensor.zeros([arch.hiddenSize]))
        positionEmbedding = Embedding(arch.numPositions, arch.hiddenSize)
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] { [("class_embedding", classEmbedding)] }
    public override var children: [(String, Module)] {
        [("patch_embedding", patchEmbedding), ("position_embedding", positionEmbedding)]
    }

    /// [B, 3, H, W] → [B, 1 + N, D]
    func callAsFunction(_ pixels: Tensor) -> Tensor {
        let b = pixels.shape[0], d = arch.hiddenSize
        let patches = patchEmbedding(pixels)  // [B, D, g, g]
            .reshaped([b, d, arch.numPatches]).transposed(1, 2)  // [B, N, D]
        let cls = classEmbedding.tensor.reshaped([1, 1, d]).expanded(to: [b, 1, d])
        let tokens = Tensor.concat([cls, patches], axis: 1)  // [B, 1 + N, D]
        return tokens + positionEmbedding.weight.tensor.reshaped([1, arch.numPositions, d])
    }
}

/// `self_attn`: q/k/v/out projections with biases, softmax(q·kᵀ/√d)·v over all tokens (the vision tower), or over
/// the tokens up to each position (`isCausal`: CLIP's text tower).
public final class CLIPAttention: Module {
    public let qProj, kProj, vProj, outProj: Linear
    let heads: Int
    let isCausal: Bool

    init(hiddenSize: Int, heads: Int, isCausal: Bool) {
        func linear() -> Linear { Linear(hiddenSize, hiddenSize) }
        qProj = linear(); kProj = linear(); vProj = linear(); outProj = linear()
        self.heads = heads
        self.isCausal = isCausal
        super.init()
    }

    public override var children: [(String, Module)] {
        [("k_proj", kProj), ("v_proj", vProj), ("q_proj", qProj), ("out_proj", outProj)]
    }

    /// [B, L, D] → [B, L, D]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let b = x.shape[0], l = x.shape[1], d = x.shape[2], hd = d / heads
        let q = qProj(x), k = kProj(x), v = vProj(x)
        if !Tensor.wouldRecord(q, k, v) {
            // Inference (the tower is frozen in MG-LLaVA): attend on the projections' own layout, no transposes.
            return outProj(
                Tensor.scaledDotProductAttention(
                    tokensMajorQuery: q, key: k, value: v, heads: heads,
                    keyValueHeads: heads, isCausal: isCausal))
        }
        func split(_ t: Tensor) -> Tensor { t.reshaped([b, l, heads, hd]).transposed(1, 2) }  // [B, H, L, hd]
        let attended = Tensor.scaledDotProductAttention(
            query: split(q), key: split(k), value: split(v), isCausal: isCausal)
        return outProj(attended.transposed(1, 2).reshaped([b, l, d]))
    }
}

/// One pre-norm encoder layer: x + attn(ln1(x)), then + mlp(ln2(x)).
public final class CLIPEncoderLayer: Module {
    public let selfAttn: CLIPAttention
    public let layerNorm1, layerNorm2: LayerNorm
    public let mlp: MLP

    /// A layer of width `hiddenSize` with an MLP of `intermediateSize` (`hiddenAct`: "quick_gelu", "gelu" or
    /// "gelu_new"); `isCausal` for the text tower. Zero weights until loaded.
    public init(
        hiddenSize: Int, intermediateSize: Int, heads: Int, layerNormEps: Float, hiddenAct: String, isCausal: Bool
    ) {
        selfAttn = CLIPAttention(hiddenSize: hiddenSize, heads: heads, isCausal: isCausal)
        layerNorm1 = LayerNorm(hiddenSize, eps: layerNormEps)
        layerNorm2 = LayerNorm(hiddenSize, eps: layerNormEps)
        let activation: Activation = hiddenAct == "gelu" ? .gelu : (hiddenAct == "gelu_new" ? .geluTanh : .quickGelu)
        mlp = MLP(hiddenSize, hidden: intermediateSize, activation: activation)
        super.init()
    }

    convenience init(_ arch: CLIPVisionArchitecture) {
        self.init(
            hiddenSize: arch.hiddenSize, intermediateSize: arch.intermediateSize, heads: arch.numAttentionHeads,
            layerNormEps: arch.layerNormEps, hiddenAct: arch.hiddenAct, isCausal: false)
    }

    public override var children: [(String, Module)] {
        [("self_attn", selfAttn), ("layer_norm1", layerNorm1), ("mlp", mlp), ("layer_norm2", layerNorm2)]
    }

    /// [B, L, D] → [B, L, D]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + selfAttn(layerNorm1(x))
        return h + mlp(layerNorm2(h))
    }
}

// MARK: - Model

/// `vision_model` (HF `CLIPVisionTransformer`).
public final class CLIPVisionTransformer: Module {
    public let embeddings: CLIPVisionEmbeddings
    public let preLayrnorm: LayerNorm
    public let layers: ModuleList<CLIPEncoderLayer>
    public let postLayernorm: LayerNorm
    /// The pre-norm's checkpoint name: HF CLIP spells it `pre_layrnorm`, OWL-ViT/OWLv2 `pre_layernorm`.
    let preNormKey: String

    /// A tower with zero weights; `preNormKey` is the pre-norm's key (`pre_layrnorm` in CLIP, `pre_layernorm` in
    /// OWLv2).
    public init(_ arch: CLIPVisionArchitecture, preNormKey: String = "pre_layrnorm") {
        self.preNormKey = preNormKey
        embeddings = CLIPVisionEmbeddings(arch)
        preLayrnorm = LayerNorm(arch.hiddenSize, eps: arch.layerNormEps)
        layers = ModuleList((0..<arch.numHiddenLayers).map { _ in CLIPEncoderLayer(arch) })
        postLayernorm = LayerNorm(arch.hiddenSize, eps: arch.layerNormEps)
        super.init()
    }

    /// The layers sit under `encoder.layers`.
    public override var children: [(String, Module)] {
        [
            ("embeddings", embeddings), (preNormKey, preLayrnorm), ("encoder", ModuleGroup(["layers": layers])),
            ("post_layernorm", postLayernorm)
        ]
    }

    /// pixel values [B, C, H, W] → every hidden state and the pooled CLS embedding.
    func callAsFunction(_ pixels: Tensor) -> CLIPVisionModel.Output {
        var h = preLayrnorm(embeddings(pixels))
        var states = [h]
        for layer in layers {
            h = layer(h)
            states.append(h)
        }
        let cls = h.select(axis: 1, 0)
        return CLIPVisionModel.Output(hiddenStates: states, poolerOutput: postLayernorm(cls))
    }

    /// The last layer's output for every token (HF's `last_hidden_state`, no post-norm), [B, 1 + N, D].
    public func lastHiddenState(_ pixels: Tensor) -> Tensor {
        hiddenState(pixels, index: layers.count)
    }

    /// Hidden state `index` alone (0 = embeddings after `pre_layrnorm`, i = output of layer i − 1), [B, 1 + N, D]:
    /// runs only the first `index` layers.
    func hiddenState(_ pixels: Tensor, index: Int) -> Tensor {
        var h = preLayrnorm(embeddings(pixels))
        for layer in layers.prefix(index) { h = layer(h) }
        return h
    }
}

/// HF `CLIPVisionModel`: the tower under the key prefix `vision_model.`.
public final class CLIPVisionModel: Module {
    public let architecture: CLIPVisionArchitecture
    public let visionModel: CLIPVisionTransformer

    /// Builds the tower with zero weights (memory is mapped lazily until the weights are loaded).
    public init(_ architecture: CLIPVisionArchitecture) {
        self.architecture = architecture
        visionModel = CLIPVisionTransformer(architecture)
        super.init()
    }

    public override var children: [(String, Module)] { [("vision_model", visionModel)] }

    /// The tower's outputs: every hidden state and the pooled CLS embedding.
    public struct Output {
        /// Embeddings after `pre_layrnorm`, then the output of every encoder layer: 1 + layers entries of [B, 1+N, D].
        public var hiddenStates: [Tensor]
        /// The last layer's output (no post-norm), as HF's `last_hidden_state`.
        public var lastHiddenState: Tensor { hiddenStates[hiddenStates.count - 1] }
        /// post_layernorm(CLS), HF's `pooler_output` [B, D].
        public var poolerOutput: Tensor
    }

    /// pixel values [B, C, H, W] (H = W = image size) → every hidden state.
    public func callAsFunction(_ pixels: Tensor) -> Output {
        let a = architecture
        precondition(
            pixels.rank == 4 && pixels.shape[1] == a.numChannels && pixels.shape[2] == a.imageSize
                && pixels.shape[3] == a.imageSize,
            "CLIP vision: pixels \(pixels.shape) for a \(a.numChannels)×\(a.imageSize)×\(a.imageSize) tower")
        return visionModel(pixels)
    }

    /// MG-LLaVA's low-resolution feature: hidden state `selectLayer` (−2 = penultimate layer) without the CLS token,
    /// [B, N, D]. Runs only the layers it needs.
    public func features(_ pixels: Tensor, selectLayer: Int = -2) -> Tensor {
        let count = architecture.numHiddenLayers + 1
        let index = selectLayer < 0 ? selectLayer + count : selectLayer
        precondition(index >= 0 && index < count, "CLIP vision: select layer \(selectLayer) of \(count) hidden states")
        let h = visionModel.hiddenState(pixels, index: index)
        return h.slice(axis: 1, 1, h.shape[1])
    }

    // MARK: - Weights

    /// Keys a full CLIP checkpoint holds that the vision tower does not use: the text tower, the projections,
    /// `logit_scale`, and the `position_ids` buffers that older transformers versions saved.
    public static func isIgnoredKey(_ key: String) -> Bool {
        key.hasPrefix("text_model.") || key.hasPrefix("visual_projection.") || key.hasPrefix("text_projection.")
            || key == "logit_scale" || key.hasSuffix("embeddings.position_ids")
    }
}
