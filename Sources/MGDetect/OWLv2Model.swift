import Foundation
import MGCLIP
import MGNN

// HF `Owlv2ForObjectDetection` (transformers 4.44.2), inference only, under its checkpoint keys:
//   owlv2.{text_model, vision_model, text_projection, visual_projection, logit_scale}
//   layer_norm, class_head.{dense0, logit_shift, logit_scale}, box_head.dense{0,1,2}, objectness_head.dense{0,1,2}
// The image becomes P = (image_size / patch_size)² patch features; each gets class logits against every query, a
// box (cx, cy, w, h in [0, 1] of the padded square) and an objectness logit.

// MARK: - Heads

/// `box_head` / `objectness_head`: dense0 → GELU (exact) → dense1 → GELU → dense2.
public final class OWLv2BoxHead: Module {
    public let dense0, dense1, dense2: Linear

    init(width: Int, outputs: Int) {
        dense0 = Linear(width, width)
        dense1 = Linear(width, width)
        dense2 = Linear(width, outputs)
        super.init()
    }

    public override var children: [(String, Module)] { [("dense0", dense0), ("dense1", dense1), ("dense2", dense2)] }

    /// [B, P, D] → [B, P, outputs]
    func callAsFunction(_ x: Tensor) -> Tensor { dense2(dense1(dense0(x).gelu()).gelu()) }
}

/// `class_head`: projects patch features to the query space and scores them against the queries.
public final class OWLv2ClassHead: Module {
    public let dense0: Linear
    public let logitShift: Linear
    public let logitScale: Linear

    init(visionWidth: Int, queryWidth: Int) {
        dense0 = Linear(visionWidth, queryWidth)
        logitShift = Linear(visionWidth, 1)
        logitScale = Linear(visionWidth, 1)
        super.init()
    }

    public override var children: [(String, Module)] {
        [("dense0", dense0), ("logit_shift", logitShift), ("logit_scale", logitScale)]
    }

    /// Patch features [B, P, Dv] and query embeddings [Q, Dq] → logits [B, P, Q] and the patch class embeddings
    /// [B, P, Dq] (normalised). `queryMask[q] == false` gives query q float32's lowest value, as upstream.
    func callAsFunction(_ x: Tensor, queries: Tensor, queryMask: [Bool]) -> (logits: Tensor, classEmbeds: Tensor) {
        let b = x.shape[0], p = x.shape[1], q = queries.shape[0]
        let classEmbeds = normalizedRows(dense0(x), epsilon: 1e-6)  // [B, P, Dq]
        let queryUnit = normalizedRows(queries, epsilon: 1e-6)  // [Q, Dq]
        let similarity = classEmbeds.reshaped([b * p, classEmbeds.shape[2]]).matmul(queryUnit.transposed(0, 1))
        let shift = logitShift(x).toArray()  // [B, P, 1]
        let scale = logitScale(x).toArray()
        var logits = similarity.toArray()  // [B·P, Q]
        for row in 0..<(b * p) {
            // elu(s) + 1 with ELU's alpha 1
            let s = scale[row], factor = (s > 0 ? s : Float(Foundation.exp(Double(s))) - 1) + 1
            for j in 0..<q {
                logits[row * q + j] =
                    queryMask[j] ? (logits[row * q + j] + shift[row]) * factor : -Float.greatestFiniteMagnitude
            }
        }
        return (Tensor(logits, shape: [b, p, q]), classEmbeds)
    }
}

/// x / (‖x‖ + ε) over the last axis (ε = 0: x / ‖x‖).
func normalizedRows(_ x: Tensor, epsilon: Float) -> Tensor {
    let d = x.shape[x.rank - 1]
    var values = x.toArray()
    for start in stride(from: 0, to: values.count, by: d) {
        var sum: Float = 0
        for i in start..<(start + d) { sum += values[i] * values[i] }
        let scale = 1 / (sum.squareRoot() + epsilon)
        for i in start..<(start + d) { values[i] *= scale }
    }
    return Tensor(values, shape: x.shape)
}

// MARK: - Model

/// `owlv2`: the two CLIP towers, their projections and the (detection-unused) `logit_scale`.
public final class OWLv2Backbone: Module {
    public let textModel: CLIPTextTransformer
    public let visionModel: CLIPVisionTransformer
    public let textProjection: Linear
    public let visualProjection: Linear
    public let logitScale: Parameter

    init(_ configuration: OWLv2Configuration) {
        textModel = CLIPTextTransformer(configuration.text)
        visionModel = CLIPVisionTransformer(configuration.vision.architecture, preNormKey: "pre_layernorm")
        textProjection = Linear(configuration.text.hiddenSize, configuration.projectionDim, bias: false)
        visualProjection = Linear(configuration.vision.hiddenSize, configuration.projectionDim, bias: false)
        logitScale = Parameter(Tensor.zeros([]))
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] { [("logit_scale", logitScale)] }
    public override var children: [(String, Module)] {
        [
            ("text_model", textModel), ("vision_model", visionModel), ("visual_projection", visualProjection),
            ("text_projection", textProjection)
        ]
    }
}

/// HF `Owlv2ForObjectDetection`.
public final class OWLv2Model: Module {
    public let configuration: OWLv2Configuration
    public let owlv2: OWLv2Backbone
    public let classHead: OWLv2ClassHead
    public let boxHead: OWLv2BoxHead
    public let objectnessHead: OWLv2BoxHead
    public let layerNorm: LayerNorm
    /// The grid prior added to the box head's output before the sigmoid, [P, 4] (not a checkpoint key).
    public let boxBias: Tensor

    /// The model with zero weights (see `OWLv2Detector.load` for a folder).
    public init(_ configuration: OWLv2Configuration) {
        self.configuration = configuration
        let vision = configuration.vision
        owlv2 = OWLv2Backbone(configuration)
        classHead = OWLv2ClassHead(visionWidth: vision.hiddenSize, queryWidth: configuration.text.hiddenSize)
        boxHead = OWLv2BoxHead(width: vision.hiddenSize, outputs: 4)
        objectnessHead = OWLv2BoxHead(width: vision.hiddenSize, outputs: 1)
        layerNorm = LayerNorm(vision.hiddenSize, eps: Float(vision.layerNormEps))
        boxBias = OWLv2Model.boxBias(gridSize: vision.gridSize)
        super.init()
    }

    public override var children: [(String, Module)] {
        [
            ("owlv2", owlv2), ("class_head", classHead), ("box_head", boxHead), ("objectness_head", objectnessHead),
            ("layer_norm", layerNorm)
        ]
    }

    /// The box prior for an n × n grid, [n², 4]: for patch (row i, column j), the centre ((j+1)/n, (i+1)/n) and the
    /// size 1/n, each mapped through the inverse sigmoid log(c + 1e-4) − log1p(−c + 1e-4), in float32 as upstream.
    public static func boxBias(gridSize n: Int) -> Tensor {
        func logit(_ c: Float) -> Float {
            Float(Foundation.log(Double(c + 1e-4))) - Float(Foundation.log1p(Double(-c + 1e-4)))
        }
        let size = logit(1 / Float(n))
        var values = [Float]()
        values.reserveCapacity(n * n * 4)
        for i in 0..<n {
            for j in 0..<n {
                let x = min(max(Float(j + 1) / Float(n), 0), 1), y = min(max(Float(i + 1) / Float(n), 0), 1)
                values += [logit(x), logit(y), size, size]
            }
        }
        return Tensor(values, shape: [n * n, 4])
    }

    /// The patch features every head reads, [B, P, Dv]: post-norm of the ViT's last hidden state, each patch
    /// multiplied by the class token, then `layer_norm` (HF `image_embedder`).
    public func imageFeatures(_ pixels: Tensor) -> Tensor {
        let vision = owlv2.visionModel
        let hidden = vision.postLayernorm(vision.lastHiddenState(pixels))  // [B, 1 + P, D]
        let n = hidden.shape[1]
        let classToken = hidden.slice(axis: 1, 0, 1)  // [B, 1, D], broadcast over the patches
        return layerNorm(hidden.slice(axis: 1, 1, n) * classToken)
    }

    /// L2-normalised query embeddings [Q, Dp] for tokenised queries (each `[bos, …, eos]`, padding optional).
    /// Queries of equal length run as one batch.
    public func queryEmbeddings(_ queries: [[Int]]) -> Tensor {
        let d = configuration.projectionDim
        var rows = [[Float]](repeating: [], count: queries.count)
        let byLength = Dictionary(grouping: queries.indices, by: { queries[$0].count })
        for (_, members) in byLength.sorted(by: { $0.key < $1.key }) {
            let pooled = owlv2.textModel.pooled(members.map { queries[$0] })  // [n, Dt]
            let projected = normalizedRows(owlv2.textProjection(pooled), epsilon: 0).toArray()
            for (k, index) in members.enumerated() { rows[index] = Array(projected[(k * d)..<((k + 1) * d)]) }
        }
        return Tensor(rows.flatMap { $0 }, shape: [queries.count, d])
    }

    /// The detection outputs for patch features [B, P, Dv] against query embeddings [Q, Dp].
    public struct Outputs {
        /// [B, P, Q]
        public var logits: Tensor
        /// [B, P]
        public var objectnessLogits: Tensor
        /// cx, cy, w, h in [0, 1] of the padded square, [B, P, 4]
        public var predBoxes: Tensor
        /// Normalised `dense0` patch embeddings, [B, P, Dq]
        public var classEmbeds: Tensor
    }

    /// Runs the three heads (`queryMask`: false for padding queries, upstream's `input_ids[..., 0] > 0`).
    public func heads(
        _ features: Tensor, queries: Tensor, queryMask: [Bool]? = nil, objectness: Bool = true
    )
        -> Outputs
    {
        let b = features.shape[0], p = features.shape[1]
        let mask = queryMask ?? [Bool](repeating: true, count: queries.shape[0])
        let (logits, classEmbeds) = classHead(features, queries: queries, queryMask: mask)
        let boxes = (boxHead(features) + boxBias.reshaped([1, p, 4])).sigmoid()
        let objectnessLogits =
            objectness ? objectnessHead(features).reshaped([b, p]) : Tensor.zeros([b, p])
        return Outputs(
            logits: logits, objectnessLogits: objectnessLogits, predBoxes: boxes, classEmbeds: classEmbeds)
    }
}
