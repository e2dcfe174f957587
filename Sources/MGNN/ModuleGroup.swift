import MGTensor

/// Named submodules and nothing else: a key prefix that stands for no computation of its own.
///
/// Checkpoints nest weights under names that are only containers in the reference code — HF's `model.` inside
/// `LlamaForCausalLM`, CLIP's `encoder.` around the layers, open_clip's `visual.trunk.`, MG-LLaVA's
/// `projector.model.`. A module whose forward pass uses the submodules directly lists a group among its
/// `children` to reproduce that layout, instead of declaring a class per layout:
///
/// ```swift
/// override var children: [(String, Module)] {
///     [("model", ModuleGroup(["embed_tokens": embedTokens, "layers": layers, "norm": norm])), ("lm_head", lmHead)]
/// }
/// ```
///
/// gives `model.embed_tokens.weight`, `model.layers.0.…`, `model.norm.weight`, `lm_head.weight`. Entries keep the
/// literal's order (the checkpoint order). A group holds no parameters of its own and has no forward pass.
public final class ModuleGroup: Module {
    private let entries: [(String, Module)]

    /// The submodules under their local names, in checkpoint order.
    public init(_ children: KeyValuePairs<String, Module>) {
        entries = children.map { ($0.key, $0.value) }
        super.init()
    }

    public override var children: [(String, Module)] { entries }
}
