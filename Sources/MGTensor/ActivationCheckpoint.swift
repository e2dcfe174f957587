import Foundation

extension Tensor {
    /// Activation checkpointing (PyTorch's `torch.utils.checkpoint`, what HF's `gradient_checkpointing_enable`
    /// wraps each decoder layer in): runs `body` on `input` without recording a graph, so none of its
    /// intermediate activations stay alive, and records one node that, during backward, runs `body` again with a
    /// graph on a fresh leaf copy of `input` and back-propagates through it. Memory for a deep stack drops from
    /// every layer's activations to one layer's plus each layer's input; the cost is a second forward.
    ///
    /// `parameters` are the trainable leaves `body` reads (a layer's weights). They are listed as inputs of the
    /// node only so that the node is recorded when `input` itself needs no gradient; their gradients accumulate
    /// through the inner backward, as they would without checkpointing. `body` must be deterministic (no dropout
    /// draws) and must not depend on state that changes between the forward and the backward.
    public static func checkpointed(
        _ input: Tensor, parameters: [Tensor] = [],
        _ body: @escaping (Tensor) -> Tensor
    ) -> Tensor {
        let trainable = parameters.filter { $0.requiresGrad }
        guard GradMode.isEnabled, input.requiresGrad || !trainable.isEmpty else { return body(input) }
        // The forward must compute what the backward's recomputation (with a graph) computes: float32 products.
        let output = withNoGrad { HalfPrecision.$keepsFloat32.withValue(true) { body(input) } }
        let saved = input.detached()
        let inputNeedsGrad = input.requiresGrad
        return record("checkpoint", output, inputs: [input] + trainable) { gradient in
            let leaf = inputNeedsGrad ? saved.requiringGrad() : saved
            let recomputed = withGrad { body(leaf) }
            if recomputed.requiresGrad { recomputed.backward(gradient) }
            // The parameters' gradients were accumulated by the inner backward.
            return [inputNeedsGrad ? leaf.grad : nil] + trainable.map { _ in nil }
        }
    }
}
