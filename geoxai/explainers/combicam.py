"""Combi-CAM (Faget, Lisani, Colom): Grad-CAM maps of several layers/blocks combined into one.

The rule follows the authors' public code (github.com/DavidFaget/Combi-CAM, ``inference.py`` and
``src/modules.py``): a Grad-CAM map per block (ReLU'd, bilinearly upsampled to the input size),
the maps SUMMED with equal weight and without per-layer normalisation, then the sum min-max
normalised to [0, 1]. Their code uses every block of the EfficientNet-B4 backbone (0-31); the
paper singles out blocks 22-29 as the most informative, which ``blocks="22-29"`` selects.
Their code also differs from geoxai's defaults in two places: it explains the top cell's softmax
*probability* (geoxai: the target's logit, as Grad-CAM) and upsamples with ``align_corners=True``.
``authors_rule=True`` reproduces both (the explained target must then be the predicted cell).
Options beyond the authors' rule: ``weights`` (per-layer weights), ``layer_norm="minmax"``
(normalise each upsampled map first) and ``align_corners``.
All layers come from ONE forward and ONE backward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..interfaces import GeoModel
from ..targets import PredictedCell, Target, parse_target
from ..types import ImageBatch
from .cam import CAMExplainer, CAMLayer, gradient_means, minmax, model_blocks, parse_blocks, upsample


class _PredictedCellProbability(Target):
    """The softmax probability of each image's top cell: the score the Combi-CAM authors explain."""

    def score(self, model, scores):
        return torch.softmax(scores, dim=1).gather(1, scores.detach().argmax(dim=1, keepdim=True))[:, 0]

    def __str__(self) -> str:
        return "predicted-probability"


class CombiCAM(CAMExplainer):
    name = "combicam"

    @dataclass(frozen=True)
    class Options:
        layers: str | tuple[str, ...] | None = None  # cam_layers names or dotted paths ("a,b" or a list)
        blocks: str | tuple[int, ...] | None = None  # or a block range such as "22-29"; default: all blocks
        weights: tuple[float, ...] | None = None     # per-layer weights; default equal
        layer_norm: Literal["none", "minmax"] = "none"  # "minmax": normalise each layer before summing
        normalize: bool = True                       # final min-max of the combined map (authors' code)
        align_corners: bool = False
        authors_rule: bool = False  # True: their target (top-cell probability) and align_corners=True

    def cam_weights(self, layer: CAMLayer) -> torch.Tensor:
        return gradient_means(layer)

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        if self.resolve(**options).authors_rule:
            if not isinstance(parse_target(target), PredictedCell):
                raise ValueError(f"combicam: authors_rule=True explains the predicted cell's probability; "
                                 f"got target {target}")
            target = _PredictedCellProbability()
            options = {**options, "align_corners": True}
        return super().explain(model, images, target, **options)

    def layers(self, model: GeoModel, opts: Any) -> list[str]:
        if opts.layers is not None and opts.blocks is not None:
            raise ValueError("combicam: give either layers= or blocks=, not both")
        if opts.layers is not None:
            names = opts.layers
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            if not names:
                raise ValueError("combicam: layers= is empty")
            return names
        blocks = model_blocks(model)
        if not blocks:
            raise ValueError(f"model {model.name!r} has no blocks; pass layers=")
        if opts.blocks is None:
            return blocks
        return [blocks[i] for i in parse_blocks(opts.blocks, len(blocks))]

    def combine(self, cams: list[torch.Tensor], size: tuple[int, int], opts: Any) -> torch.Tensor:
        weights = opts.weights
        if weights is None:
            weights = [1.0] * len(cams)
        if len(weights) != len(cams):
            raise ValueError(f"combicam: {len(weights)} weights for {len(cams)} layers")
        if opts.layer_norm not in ("none", "minmax"):
            raise ValueError(f"combicam: layer_norm must be 'none' or 'minmax', got {opts.layer_norm!r}")
        total = None
        for cam, weight in zip(cams, weights):
            up = upsample(cam, size, bool(opts.align_corners))
            if opts.layer_norm == "minmax":
                up = minmax(up)
            total = float(weight) * up if total is None else total + float(weight) * up
        if total is None:
            raise ValueError("combicam: no layers to combine")
        return minmax(total) if opts.normalize else total
