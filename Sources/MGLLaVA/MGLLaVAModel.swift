import Foundation
import MGNN
import MGCLIP
import MGConvNeXt
import MGFusion
import MGObjects
import MGLLM

/// One sample as the model consumes it: token ids with the −200 image slot, labels (−100 = no loss), the two
/// preprocessed images and the boxes in the aux-image frame.
public struct MultimodalSample {
    public var inputIds: [Int]
    public var labels: [Int]?
    /// [3, S, S] (CLIP size); nil for a text-only sample.
    public var pixelValues: Tensor?
    /// [3, A, A] (aux size); nil for a text-only sample.
    public var pixelValuesAux: Tensor?
    /// Boxes x1, y1, x2, y2 in the aux frame (K ≥ 1 for an image sample: the pipeline inserts a dummy box).
    public var boxes: [RoIBox]

    public init(
        inputIds: [Int], labels: [Int]? = nil, pixelValues: Tensor? = nil, pixelValuesAux: Tensor? = nil,
        boxes: [RoIBox] = []
    ) {
        self.inputIds = inputIds
        self.labels = labels
        self.pixelValues = pixelValues
        self.pixelValuesAux = pixelValuesAux
        self.boxes = boxes
    }
}

/// The LLM input built from a batch: embeddings with the visual tokens spliced in, right-padded with zeros.
public struct MultimodalInputs {
    public var inputsEmbeds: Tensor  // [B, L, H]
    public var attentionMask: [[Int]]  // [B][L], 1 = real
    public var labels: [[Int]]  // [B][L], −100 on visual tokens, prompt and padding
    public var positionIds: [[Int]]  // [B][L], 0..<L per row
    /// Intermediate outputs, for parity checks and `mgllava features`.
    public var fused: Tensor?  // [B_img, N, low]
    public var imageTokens: Tensor?  // [B_img, N, H]
    public var boxFeatures: [Tensor]  // per image sample: [K, Σ C] (RoIAlign means)
    public var boxTokens: [Tensor]  // per image sample: [K, H]
}

/// MG-LLaVA (SPEC §1): CLIP ViT (low resolution) and ConvNeXt (high resolution) towers, Conv-Gate fusion, the
/// image projector, object tokens from RoIAlign over the ConvNeXt stages, and the LLM. Keys as upstream's
/// checkpoints: `fuse_module.*`, `projector.model.{0,2}.*`, `bbox_projector.model.{0,2}.*`, `llm.*`; the towers
/// (`visual_encoder.*`, `visual_encoder_aux.*`) load from their own folders and are frozen.
public final class MGLLaVAModel: Module {
    public let visualEncoder: CLIPVisionModel
    public let visualEncoderAux: ConvNeXtTrunk
    public let fuseModule: ConvGateFusion
    public let projector: Sequential
    public let bboxProjector: Sequential
    public let llm: CausalLM
    public let visualSelectLayer: Int
    public let boxExtractor: BoxFeatureExtractor

    public static let imageTokenIndex = ConversationEncoder.imageTokenIndex
    public static let ignoreIndex = ConversationEncoder.ignoreIndex

    /// Puts the towers and the LLM together with the modules MG-LLaVA adds (fusion, projectors) at zero weights of
    /// the right shapes: a checkpoint overwrites them next, or `initialize(generator:)` applies upstream's
    /// initialisation (no random numbers are drawn until then; untouched memory stays unmapped). The towers are
    /// frozen.
    public init(
        visualEncoder: CLIPVisionModel, visualEncoderAux: ConvNeXtTrunk, llm: CausalLM,
        visualSelectLayer: Int = -2, boxExtractor: BoxFeatureExtractor = BoxFeatureExtractor()
    ) {
        self.visualEncoder = visualEncoder
        self.visualEncoderAux = visualEncoderAux
        self.llm = llm
        self.visualSelectLayer = visualSelectLayer
        self.boxExtractor = boxExtractor
        let low = visualEncoder.architecture.hiddenSize
        let dims = visualEncoderAux.architecture.dims
        let h = llm.architecture.hiddenSize
        (fuseModule, projector, bboxProjector) = Self.addedModules(lowResDim: low, highResDims: dims, llmHidden: h)
        super.init()
        visualEncoder.freeze()
        visualEncoderAux.freeze()
    }

    /// Parameters of the modules MG-LLaVA adds (fusion, projector, box projector) for these widths, counted on
    /// the modules themselves (built at zero weights, whose memory stays unmapped).
    public static func moduleParameterCount(lowResDim low: Int, highResDims dims: [Int], llmHidden h: Int) -> Int {
        let (fusion, projector, bboxProjector) = addedModules(lowResDim: low, highResDims: dims, llmHidden: h)
        return [fusion, projector, bboxProjector].reduce(0) { total, module in
            total + module.parameters().reduce(0) { $0 + $1.count }
        }
    }

    /// The fusion (CLIP width `low`, the trunk's last width), the projector (CLIP → LLM) and the box projector
    /// (the trunk's widths concatenated → LLM), at zero weights.
    static func addedModules(
        lowResDim low: Int, highResDims dims: [Int], llmHidden h: Int
    ) -> (ConvGateFusion, Sequential, Sequential) {
        (
            ConvGateFusion(lowResDim: low, highResDim: dims[dims.count - 1]),
            Sequential(Linear(low, h), ActivationLayer(.gelu), Linear(h, h)),
            Sequential(Linear(dims.reduce(0, +), h), ActivationLayer(.gelu), Linear(h, h))
        )
    }

    /// Upstream's initialisation of the modules MG-LLaVA adds: the fusion's (xavier-uniform convs, zero output
    /// projections: the identity), then PyTorch's default uniform for the projector's and the box projector's
    /// linears, in that order from `generator`. The towers and the LLM are left as they are (they are loaded).
    public func initialize(generator: inout Generator) {
        fuseModule.initialize(generator: &generator)
        for mlp in [projector, bboxProjector] {
            for case let linear as Linear in mlp.layers { linear.initialize(generator: &generator) }
        }
    }

    public override var children: [(String, Module)] {
        [
            ("visual_encoder", visualEncoder), ("visual_encoder_aux", visualEncoderAux), ("fuse_module", fuseModule),
            ("projector", ModuleGroup(["model": projector])), ("bbox_projector", ModuleGroup(["model": bboxProjector])),
            ("llm", llm)
        ]
    }

    /// Prefixes of the modules an MG-LLaVA `.pth` may hold (the towers are never saved by upstream).
    public static let checkpointPrefixes = ["fuse_module", "projector", "bbox_projector", "llm"]

    // MARK: - Geometry

    /// Checks that high-resolution images of side `auxSize` fit the towers: the fusion pairs every CLIP patch with
    /// one cell of the ConvNeXt's last stage, so that map must be the CLIP grid (24×24 for ViT-L/14-336, i.e.
    /// `image_size_aux` 768…799 for ConvNeXt-L). Throws naming `field` and the sizes that fit; call it when a
    /// model and an image processor are put together, before any image is processed.
    public func checkImageSizeAux(_ auxSize: Int, field: String = "image_size_aux") throws {
        let grid = visualEncoder.architecture.gridSize
        let trunk = visualEncoderAux.architecture
        if auxSize > 0 && trunk.finalMapSize(inputSize: auxSize) == grid { return }
        // Sides whose last-stage map is `grid`: [grid·s, (grid + 1)·s) with s the total stride.
        let stride = trunk.dims.count > 1 ? 4 << (trunk.dims.count - 1) : 4
        throw MGLLaVAGeometryError(
            description: "\(field) \(auxSize) does not fit the towers: the ConvNeXt's last "
                + "stage would be \(trunk.finalMapSize(inputSize: auxSize))×\(trunk.finalMapSize(inputSize: auxSize)) and "
                + "the fusion needs the CLIP grid \(grid)×\(grid) (\(visualEncoder.architecture.imageSize)-pixel images, "
                + "patch \(visualEncoder.architecture.patchSize)); sizes that fit: \(grid * stride)…\((grid + 1) * stride - 1) "
                + "(\(grid * stride) is the usual one)")
    }

    // MARK: - Inputs

    /// Runs the towers (no graph), the fusion and projectors (graph when trainable), and splices the visual tokens
    /// into the text embeddings at the −200 slot of each sample.
    public func prepareInputs(_ samples: [MultimodalSample]) -> MultimodalInputs {
        let h = llm.architecture.hiddenSize
        let imageIndices = samples.indices.filter { samples[$0].inputIds.contains(Self.imageTokenIndex) }
        var imageTokens: Tensor? = nil, fused: Tensor? = nil
        var boxFeatures: [Tensor] = [], boxTokens: [Tensor] = []
        if !imageIndices.isEmpty {
            // The data pipeline guarantees images for every sample with an image slot; a caller that breaks
            // that contract is a programming error, not bad user data.
            let pixels = Tensor.stack(
                imageIndices.map { i -> Tensor in
                    guard let p = samples[i].pixelValues else {
                        preconditionFailure("sample \(i) has an image slot but no pixels")
                    }
                    return p
                }, axis: 0)
            let pixelsAux = Tensor.stack(
                imageIndices.map { i -> Tensor in
                    guard let p = samples[i].pixelValuesAux else {
                        preconditionFailure("sample \(i) has an image slot but no aux pixels")
                    }
                    return p
                }, axis: 0)
            let encoded = VisualEncoding.encode(
                pixels: pixels, pixelsAux: pixelsAux, boxes: imageIndices.map { samples[$0].boxes },
                visualEncoder: visualEncoder, visualEncoderAux: visualEncoderAux, selectLayer: visualSelectLayer,
                fusion: fuseModule, projector: projector, bboxProjector: bboxProjector, boxExtractor: boxExtractor)
            fused = encoded.fused
            imageTokens = encoded.imageTokens
            boxFeatures = encoded.boxFeatures
            boxTokens = encoded.boxTokens
        }
        // Splice per sample.
        var rows: [Tensor] = [], labels: [[Int]] = []
        var imageRow = 0
        for sample in samples {
            let ids = sample.inputIds
            let sampleLabels = sample.labels ?? [Int](repeating: Self.ignoreIndex, count: ids.count)
            guard let slot = ids.firstIndex(of: Self.imageTokenIndex), let tokens = imageTokens else {
                rows.append(llm.embed([ids]).squeezed(0))
                labels.append(sampleLabels)
                continue
            }
            let before = Array(ids[..<slot]), after = Array(ids[(slot + 1)...])
            let visual = Tensor.concat([tokens.select(axis: 0, imageRow), boxTokens[imageRow]], axis: 0)  // [N + K, H]
            var pieces: [Tensor] = []
            if !before.isEmpty { pieces.append(llm.embed([before]).squeezed(0)) }
            pieces.append(visual)
            if !after.isEmpty { pieces.append(llm.embed([after]).squeezed(0)) }
            rows.append(Tensor.concat(pieces, axis: 0))
            labels.append(
                Array(sampleLabels[..<slot]) + [Int](repeating: Self.ignoreIndex, count: visual.shape[0])
                    + Array(sampleLabels[(slot + 1)...]))
            imageRow += 1
        }
        // Right-pad with zero vectors.
        let length = rows.map { $0.shape[0] }.max() ?? 0
        var mask: [[Int]] = []
        let padded = rows.enumerated().map { i, r -> Tensor in
            let n = r.shape[0]
            mask.append([Int](repeating: 1, count: n) + [Int](repeating: 0, count: length - n))
            labels[i] += [Int](repeating: Self.ignoreIndex, count: length - n)
            return n == length ? r : r.padded([(0, length - n), (0, 0)])
        }
        let embeds = padded.isEmpty ? Tensor.zeros([0, 0, h]) : Tensor.stack(padded, axis: 0)
        return MultimodalInputs(
            inputsEmbeds: embeds, attentionMask: mask, labels: labels,
            positionIds: Array(repeating: Array(0..<length), count: samples.count),
            fused: fused, imageTokens: imageTokens, boxFeatures: boxFeatures, boxTokens: boxTokens)
    }

    // MARK: - Forward

    /// What a training or evaluation forward pass returns.
    public struct Output {
        public var inputs: MultimodalInputs
        public var logits: Tensor
        /// Mean next-token cross-entropy over supervised tokens (NaN when none is supervised).
        public var loss: Tensor
    }

    /// Training / evaluation forward: spliced inputs → LLM → logits and loss.
    public func callAsFunction(_ samples: [MultimodalSample]) -> Output {
        let inputs = prepareInputs(samples)
        let out = llm(
            inputsEmbeds: inputs.inputsEmbeds, attentionMask: inputs.attentionMask,
            positionIds: inputs.positionIds)
        let logits = out.logits ?? Tensor.zeros([0])
        return Output(inputs: inputs, logits: logits, loss: CausalLM.causalLoss(logits: logits, labels: inputs.labels))
    }
}

/// Image sizes that the towers cannot pair up (see `MGLLaVAModel.checkImageSizeAux`).
public struct MGLLaVAGeometryError: Error, CustomStringConvertible {
    public var description: String
}
