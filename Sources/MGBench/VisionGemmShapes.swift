import MGCLIP
import MGConvNeXt

/// The vision towers' forward as GEMM shapes (m, k, n, count), for the raw-sgemm bound of the vision and
/// full-step benchmarks.
public enum VisionGemmShapes {
    /// CLIP's patch embedding (a stride-`patch` conv) as one GEMM: patches × (channels·patch²) → hidden.
    public static func clipPatchEmbedding(_ a: CLIPVisionArchitecture) -> GemmShapes {
        [(a.numPatches, a.numChannels * a.patchSize * a.patchSize, a.hiddenSize, 1)]
    }

    /// `layers` CLIP encoder layers over all positions: q, k, v, o; fc1; fc2; per head QKᵀ and PV.
    public static func clipLayers(_ a: CLIPVisionArchitecture, layers: Int) -> GemmShapes {
        let l = a.numPositions, d = a.hiddenSize, f = a.intermediateSize, h = a.numAttentionHeads, hd = a.headDim
        return [
            (l, d, d, 4 * layers), (l, d, f, layers), (l, f, d, layers), (l, hd, l, h * layers), (l, l, hd, h * layers)
        ]
    }

    /// Each ConvNeXt stage's grid side for an `imageSize` input: the 4×4 stride-4 stem, then halved per stage.
    public static func convNeXtGridSizes(_ a: ConvNeXtArchitecture, imageSize: Int) -> [Int] {
        a.dims.indices.map { (imageSize / 4) >> $0 }
    }

    /// ConvNeXt at `imageSize` as GEMMs (m, k, n, count): the stem and downsample convs as im2col GEMMs and the
    /// block MLPs; the depthwise 7×7 convs are not GEMMs.
    public static func convNeXt(_ a: ConvNeXtArchitecture, imageSize: Int) -> GemmShapes {
        let dims = a.dims, depths = a.depths, sizes = convNeXtGridSizes(a, imageSize: imageSize)
        var shapes = [(sizes[0] * sizes[0], a.inChannels * 16, dims[0], 1)]
        for s in 0..<dims.count {
            let px = sizes[s] * sizes[s], c = dims[s]
            if s > 0 { shapes.append((px, dims[s - 1] * 4, c, 1)) }
            shapes += [(px, c, 4 * c, depths[s]), (px, 4 * c, c, depths[s])]
        }
        return shapes
    }
}
