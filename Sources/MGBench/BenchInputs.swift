/// Input sizes of MG-LLaVA's published configs that no architecture type holds.
public enum BenchInputs {
    /// The high-resolution (ConvNeXt) path's image side, upstream's `image_size_aux`.
    public static let auxImageSize = 768
}
