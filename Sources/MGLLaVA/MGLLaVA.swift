// MGLLaVA — the assembled model and the public API: `import MGLLaVA` gives every part.
@_exported import MGTensor
@_exported import MGNN
@_exported import MGCheckpoint
@_exported import MGTokenizers
@_exported import MGCLIP
@_exported import MGConvNeXt
@_exported import MGFusion
@_exported import MGObjects
@_exported import MGLLM
@_exported import MGDetect
