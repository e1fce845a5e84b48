"""``text``: where a photo shows writing, and what it says, with rapidocr's PaddleOCR models.

rapidocr (Apache-2.0) ships PP-OCR detection, recognition and direction-classifier ONNX models
inside its wheel, so this segmenter needs no download; onnxruntime runs them on the CPU. Install
both with ``pip install geoxai[text]``.

The concept mask of ``text`` is the union of the detected text polygons (filled quadrilaterals,
not their axis-aligned boxes). With ``scripts=True`` every region also goes to the sub-concept of
the script its string is written in (``text:latin``, ``text:cyrillic``, ... see
``geoxai.segmenters.scripts``); these masks overlap ``text`` by design. What was read is returned
with the masks (``ConceptMasks.regions``): per region the string, recognition confidence, polygon
(pixel coordinates of the image given) and script.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..interfaces import MaskSegmenter
from ..masks import ConceptMasks
from ..types import ImageBatch
from .base import as_pixels
from .scripts import SCRIPTS, script_of

CONCEPT = "text"


def _engine(det_limit: int, direction: bool, threads: int):
    try:
        from rapidocr import RapidOCR
    except ImportError:
        raise ImportError("the text segmenter needs rapidocr and onnxruntime: pip install 'geoxai[text]'") from None
    params: dict[str, Any] = {
        "Global.log_level": "error",
        "Global.use_cls": bool(direction),
        # 'max': photos larger than det_limit are shrunk for detection, smaller ones are left alone
        "Det.limit_type": "max",
        "Det.limit_side_len": int(det_limit),
    }
    if threads > 0:
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
    return RapidOCR(params=params)


class TextSegmenter(MaskSegmenter):
    """Text regions found and read by OCR (rapidocr's PP-OCR ONNX models, no download).

    Options: ``scripts`` (also the sub-concepts ``text:<script>``), ``min_score`` (recognition
    confidence below which a region is dropped), ``min_chars`` (fewest letters or digits a kept
    string has: single stray characters are what OCR reads into textures), ``det_limit`` (long
    side, pixels, to which larger photos are shrunk for detection), ``direction`` (run the
    180-degree direction classifier: slower, for upside-down text), ``threads`` (onnxruntime
    threads; 0: its default).
    """

    name = "text"

    def __init__(self, scripts: bool = False, min_score: float = 0.5, min_chars: int = 2, det_limit: int = 960,
                 direction: bool = False, threads: int = 0) -> None:
        if not 0.0 <= float(min_score) <= 1.0:
            raise ValueError(f"text segmenter: min_score must be in [0, 1], got {min_score!r}")
        if int(min_chars) < 1 or int(det_limit) < 32 or int(threads) < 0:
            raise ValueError(f"text segmenter: min_chars >= 1, det_limit >= 32 and threads >= 0 are needed, got "
                             f"{min_chars!r}, {det_limit!r}, {threads!r}")
        self.scripts, self.min_score, self.min_chars = bool(scripts), float(min_score), int(min_chars)
        self.concepts = [CONCEPT, *([f"{CONCEPT}:{s}" for s in SCRIPTS] if self.scripts else [])]
        self.cue_concepts = [CONCEPT]  # the union of all text; the script masks lie inside it
        # the engine is built once; its __call__ changes no state when given no per-call settings,
        # and onnxruntime sessions may run from several threads, so instances can be shared
        self._ocr = _engine(int(det_limit), bool(direction), int(threads))

    def to(self, device: str | torch.device) -> TextSegmenter:
        """OCR runs on the CPU whatever the device (onnxruntime's CPU provider); labels stay on the CPU."""
        self._device = torch.device(device)
        return self

    def read(self, image: np.ndarray) -> list[dict[str, Any]]:
        """The text regions of one RGB uint8 image [H, W, 3]: dicts with ``text``, ``score``,
        ``polygon`` ([[x, y], ...] pixel corners) and ``script``, in reading order of the OCR."""
        result = self._ocr(np.ascontiguousarray(image[..., ::-1]))  # rapidocr takes arrays as BGR
        if result.boxes is None or result.txts is None:
            return []
        regions = []
        for box, string, score in zip(result.boxes, result.txts, result.scores):
            string = str(string).strip()
            if float(score) < self.min_score or sum(ch.isalnum() for ch in string) < self.min_chars:
                continue
            regions.append({"concept": CONCEPT, "text": string, "score": round(float(score), 5),
                            "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(box)],
                            "script": script_of(string)})
        return regions

    def segment_masks(self, images: ImageBatch | torch.Tensor) -> ConceptMasks:
        import cv2

        pixels = as_pixels(images).cpu()
        b, _, h, w = pixels.shape
        masks = np.zeros((b, len(self.concepts), h, w), dtype=np.uint8)
        regions = []
        for i in range(b):
            found = self.read(pixels[i].permute(1, 2, 0).numpy())
            for region in found:
                polygon = np.round(np.asarray(region["polygon"])).astype(np.int32)
                cv2.fillPoly(masks[i, 0], [polygon], 1)
                if self.scripts:
                    cv2.fillPoly(masks[i, self.concepts.index(f"{CONCEPT}:{region['script']}")], [polygon], 1)
            regions.append(found)
        return ConceptMasks(torch.from_numpy(masks).bool(), self.concepts, regions)
