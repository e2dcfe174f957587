import MGTensor
