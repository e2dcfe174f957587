// MGDetect: OWLv2 (transformers' `Owlv2ForObjectDetection`), the open-vocabulary detector MG-LLaVA runs offline to
// make the boxes of its object-level features (`mg_llava/bbox_generation/image_offline_to_bbox.py`).
//
// Reading order: `OWLv2Configuration` (config.json) → `OWLv2ImageProcessor` (preprocessor_config.json, the numpy
// `Owlv2ImageProcessor` of transformers 4.44.2) → `CLIPTextModel` (the query tower) → `OWLv2Model` (towers + heads,
// checkpoint keys) → `OWLv2Detector` (folder loading, query cache, post-processing into boxes).
