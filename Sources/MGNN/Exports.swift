@_exported import MGTensor
