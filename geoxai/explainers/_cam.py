"""Shared machinery of the gradient-weighted CAM explainers (Grad-CAM, Combi-CAM).

One forward pass records the output of every requested layer, one ``torch.autograd.grad`` call
gives the target score's gradient w.r.t. all of them at once; no parameter gradient is formed.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..interfaces import GeoModel
from ..types import ImageBatch
from ..vit import CamTap, cam_tap, find_vit
from .base import BaseExplainer, map_dtype, model_input, to_maps, untouched

#: classes that are the "blocks" of common CNNs (torchvision ResNet, timm/torchvision EfficientNet...)
BLOCK_CLASSES = ("BasicBlock", "Bottleneck", "MBConv", "FusedMBConv", "InvertedResidual",
                 "DepthwiseSeparableConv", "EdgeResidual", "ConvNeXtBlock", "CNBlock")


@contextlib.contextmanager
def recording(layers: list[nn.Module]) -> Iterator[list[torch.Tensor | None]]:
    """Record each layer's output during the forward pass; hooks are removed on exit.

    The hook hands the rest of the network a *clone* of the output, so an in-place op after the
    layer (``ReLU(inplace=True)``) cannot overwrite the recorded activation."""
    outputs: list[torch.Tensor | None] = [None] * len(layers)
    handles = []

    def make_hook(i: int):
        def hook(module, args, output):
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"CAM layer {type(module).__name__} returns {type(output).__name__}, not a tensor")
            outputs[i] = output
            return output.clone()
        return hook

    try:
        for i, layer in enumerate(layers):
            handles.append(layer.register_forward_hook(make_hook(i)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def layer_cams(model: GeoModel, x: torch.Tensor, target, layers: Sequence[nn.Module | CamTap]) -> list[torch.Tensor]:
    """Grad-CAM of each layer at its own resolution: ReLU(sum_k mean_ij(dS/dA_k) A_k), [B, h, w].

    A ``CamTap`` turns what its module outputs (ViT tokens) into a [B, C, h, w] map, for the
    activations and their gradients alike (pytorch-grad-cam's ``reshape_transform``)."""
    taps = [t if isinstance(t, CamTap) else CamTap(t, lambda a, hw: a) for t in layers]
    modules = [t.module for t in taps]
    # One pass: only the clean images are scored, so the target (the predicted cell included) is
    # bound to the explained pass's own logits (no separate pass to fix it, as the IG paths need).
    inp = x.clone().requires_grad_(True)  # so activations need grad even with frozen weights
    with recording(modules) as acts, torch.enable_grad():
        logits = model(inp)
        out = BaseExplainer.bind_target(model, target, logits.detach()).score(logits)
    missing = [i for i, a in enumerate(acts) if a is None]
    if missing:
        raise ValueError(f"CAM layer #{missing[0]} was not used by the model's forward pass")
    recorded = [a for a in acts if a is not None]
    grads = torch.autograd.grad(out.sum(), recorded, allow_unused=True)
    size = (x.shape[-2], x.shape[-1])
    cams = []
    for tap, act, grad in zip(taps, recorded, grads):
        if grad is None:
            grad = torch.zeros_like(act)
        act, grad = tap.to_map(act, size), tap.to_map(grad, size)
        if act.ndim != 4:
            raise ValueError(f"CAM layers must output [B, C, h, w] maps, got shape {tuple(act.shape)}")
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cams.append(torch.relu((weights * act).sum(dim=1)).detach())
    return cams


def upsample(cam: torch.Tensor, size: tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    """Bilinear upsampling of [B, h, w] maps; align_corners=False is what cv2.resize does
    (pytorch-grad-cam), True is what the Combi-CAM authors' code does."""
    return F.interpolate(cam[:, None].to(map_dtype(cam)), size=size, mode="bilinear", align_corners=align_corners)[:, 0]


def minmax(maps: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Per-map (m - min) / (max + eps), pytorch-grad-cam's ``scale_cam_image`` scaling."""
    flat = maps.flatten(1)
    shifted = flat - flat.amin(1, keepdim=True)
    return (shifted / (shifted.amax(1, keepdim=True) + eps)).view_as(maps)


def model_blocks(model: GeoModel) -> list[str]:
    """Dotted paths of the model's blocks in forward order: ``model.cam_blocks`` if it declares
    them, else the outermost modules whose class is a known CNN block, else the blocks of its
    vision transformer (``geoxai.vit``), else its ``cam_layers``."""
    declared = getattr(model, "cam_blocks", None)
    if declared:
        return list(declared)
    blocks: list[str] = []
    for name, module in model.named_modules():
        if type(module).__name__ in BLOCK_CLASSES and not any(name.startswith(b + ".") for b in blocks):
            blocks.append(name)
    if blocks:
        return blocks
    vit = find_vit(model)
    if vit is not None:
        return list(vit.blocks)
    return [model.cam_layers[k] for k in model.cam_layers]


def parse_blocks(spec: str | list[int] | range, count: int) -> list[int]:
    """``"22-29"`` (inclusive), ``"1,3,5"``, ``"0-3,8"`` or a list of ints -> block indices."""
    if isinstance(spec, (list, tuple, range)):
        indices = [int(i) for i in spec]
    else:
        indices = []
        for part in str(spec).replace(" ", "").split(","):
            match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not match:
                raise ValueError(f"invalid blocks {spec!r}: use e.g. '22-29' or '1,3,5'")
            lo, hi = int(match[1]), int(match[2] or match[1])
            indices.extend(range(lo, hi + 1))
    for i in indices:
        if not 0 <= i < count:
            raise ValueError(f"block {i} is out of range: the model has {count} blocks (0-{count - 1})")
    if not indices:
        raise ValueError(f"blocks {spec!r} selects no block")
    return indices


class CAMExplainer(BaseExplainer):
    """Base: subclasses choose the layers and how per-layer maps become one map."""

    def layers(self, model: GeoModel, opts: dict[str, Any]) -> Sequence[str | int | None]:
        """The layers to tap, as ``cam_tap`` takes them (None: the model's default)."""
        raise NotImplementedError

    def combine(self, cams: list[torch.Tensor], size: tuple[int, int], opts: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        opts = self.resolved_options(**options)
        x = model_input(model, images)
        names = self.layers(model, opts)
        taps = [cam_tap(model, n) for n in names]
        with untouched(model):
            cams = layer_cams(model, x, target, taps)
        return to_maps(self.combine(cams, (x.shape[-2], x.shape[-1]), opts))
