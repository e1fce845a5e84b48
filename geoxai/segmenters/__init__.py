"""Built-in segmenters, registered through geoxai's own entry point.

Segmenters are registered as lazy ``"module:attr"`` strings so that listing plugins imports
neither torch models nor segmentation-models-pytorch.
"""
from ..hookspecs import hookimpl

_RELEASE = "http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-hrnetv2-c1"
_LICENSE = "BSD-3-Clause (CSAILVision/semantic-segmentation-pytorch; no separate licence stated for the weights)"


@hookimpl
def register_segmenters(register):
    register("ade20k-hrnet", "geoxai.segmenters.ade20k_hrnet:ADE20kHRNet",
             description="ADE20k 150 concepts, HRNetV2-W48 + C1 (CSAILVision release, SemP paper)")
    register("smp", "geoxai.segmenters.smp:SmpSegmenter",
             description="your own segmentation-models-pytorch model + class list (default ADE20k 150)")
    register("text", "geoxai.segmenters.text:TextSegmenter",
             description="text regions read by OCR (rapidocr PP-OCR ONNX models in its wheel; geoxai[text])")
    register("cues", "geoxai.segmenters.cues:CuesSegmenter",
             description="open-vocabulary geolocation cues (bollards, road lines, poles, ...) with CLIPSeg "
                         "(hf://CIDAS/clipseg-rd64-refined; prompts= for your own)")
    register("tiny", "geoxai.testing:TinySegmenter", description="random per-pixel test segmenter (no download)")


@hookimpl
def register_weights(register):
    from ..weights import WeightFile

    # The release publishes neither checksums nor sizes for these files, so none are pinned.
    register(WeightFile(
        name="ade20k-hrnetv2-c1-encoder", url=f"{_RELEASE}/encoder_epoch_30.pth",
        filename="encoder_epoch_30.pth",
        description="HRNetV2-W48 encoder trained on ADE20k (ade20k-hrnetv2-c1, epoch 30)", license=_LICENSE))
    register(WeightFile(
        name="ade20k-hrnetv2-c1-decoder", url=f"{_RELEASE}/decoder_epoch_30.pth",
        filename="decoder_epoch_30.pth",
        description="C1 decoder, 150 ADE20k classes (ade20k-hrnetv2-c1, epoch 30)", license=_LICENSE))
