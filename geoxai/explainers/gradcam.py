"""Grad-CAM (Selvaraju et al. 2017) at one named layer.

Raw map: ReLU of the channel sum of activations weighted by the spatial mean of the target
score's gradients, bilinearly upsampled to the input size (half-pixel centres, like
``cv2.resize``). ``normalize=True`` applies pytorch-grad-cam's per-image (m - min) / (max + 1e-7)
scaling the way it does (once at the layer's resolution, once after resizing), which makes the
output equal to ``pytorch_grad_cam.GradCAM`` (see the tests). The raw map is that output before
scaling: the two differ by a per-image shift and positive factor only (up to the 1e-7).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..interfaces import GeoModel
from ._cam import CAMExplainer, minmax, upsample


class GradCAM(CAMExplainer):
    name = "gradcam"

    @dataclass(frozen=True)
    class Options:
        layer: str | int | None = None  # cam_layers name, dotted path or ViT block index; None: the default
        normalize: bool = False      # pytorch-grad-cam's min-max scaling (before and after resizing)
        align_corners: bool = False  # bilinear upsampling corners (False: like cv2.resize)

    def layers(self, model: GeoModel, opts: dict[str, Any]) -> list[str | int | None]:
        # None: the default CAM layer, or a ViT's last block; an int: a ViT block by index
        layer = opts["layer"]
        return [layer if layer is not None else model.default_cam_layer]

    def combine(self, cams: list[torch.Tensor], size: tuple[int, int], opts: dict[str, Any]) -> torch.Tensor:
        (cam,) = cams
        if not opts["normalize"]:
            return upsample(cam, size, bool(opts["align_corners"]))
        # pytorch-grad-cam scales before resizing and again after (its layer aggregation); the
        # 1e-7 in each scaling matters for maps with small values, so both steps are kept
        return minmax(upsample(minmax(cam), size, bool(opts["align_corners"])))
