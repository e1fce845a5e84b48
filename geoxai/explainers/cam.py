"""The public base of class activation maps: :class:`CAMExplainer` (Grad-CAM, Combi-CAM, yours).

A CAM is ``ReLU(sum_k w_k A_k)`` of a layer's activations ``A`` [B, C, h, w], upsampled to the
input. Methods differ in the channel weights ``w`` only, so a subclass overrides ONE method,
:meth:`CAMExplainer.cam_weights` (as pytorch-grad-cam's ``BaseCAM.get_cam_weights``)::

    class GradCAMPlusPlus(CAMExplainer):
        name = "gradcam++"

        def cam_weights(self, layer):
            g, a = layer.gradients, layer.activations
            alpha = g**2 / (2 * g**2 + a.sum(dim=(2, 3), keepdim=True) * g**3 + 1e-6)
            return (torch.where(g != 0, alpha, 0) * g.relu()).sum(dim=(2, 3))

One forward pass records the output of every tapped layer, one ``torch.autograd.grad`` call gives
the target score's gradient w.r.t. all of them at once (skipped when ``needs_gradients`` is
False); no parameter gradient is formed. :meth:`~CAMExplainer.layers` (which layers) and
:meth:`~CAMExplainer.combine` (per-layer maps -> one map) have Grad-CAM's defaults.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..interfaces import GeoModel
from ..targets import BoundTarget
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


@dataclass(frozen=True)
class CAMLayer:
    """What :meth:`CAMExplainer.cam_weights` sees of one tapped layer."""

    activations: torch.Tensor          # [B, C, h, w], detached
    gradients: torch.Tensor | None     # d(target score)/d(activations) [B, C, h, w]; None without needs_gradients
    index: int                         # position among the tapped layers
    model: GeoModel                    # frozen and in eval mode (for weights that run the model: Score-CAM)
    inputs: torch.Tensor               # the model input [B, 3, H, W]
    target: BoundTarget                # scores any rows: target.score(model(x), rows)
    options: Any                       # the call's resolved ``Options``


def gradient_means(layer: CAMLayer) -> torch.Tensor:
    """Grad-CAM's channel weights [B, C]: the spatial mean of the target score's gradients."""
    if layer.gradients is None:
        raise ValueError("Grad-CAM weights need the gradients (needs_gradients = True)")
    return layer.gradients.mean(dim=(2, 3))


class CAMExplainer(BaseExplainer):
    """Base of CAM explainers: override :meth:`cam_weights`; :meth:`layers` and :meth:`combine` default
    to Grad-CAM's (the ``layer`` option or the model's default CAM layer; the map upsampled, and
    with ``normalize=True`` min-max scaled as pytorch-grad-cam does)."""

    #: False: no backward pass; ``CAMLayer.gradients`` is None (gradient-free weights)
    needs_gradients: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Options:
        layer: str | int | None = None  # cam_layers name, dotted path or ViT block index; None: the default
        normalize: bool = False         # pytorch-grad-cam's min-max scaling (before and after resizing)
        align_corners: bool = False     # bilinear upsampling corners (False: like cv2.resize)

    def cam_weights(self, layer: CAMLayer) -> torch.Tensor:
        """Channel weights [B, C] (or per position, broadcastable to [B, C, h, w]) of one layer."""
        raise NotImplementedError(f"{type(self).__name__} must implement cam_weights")

    def layers(self, model: GeoModel, opts: Any) -> Sequence[str | int | None]:
        """The layers to tap, as ``geoxai.vit.cam_tap`` takes them (None: the model's default)."""
        layer = opts.layer
        return [layer if layer is not None else model.default_cam_layer]

    def combine(self, cams: list[torch.Tensor], size: tuple[int, int], opts: Any) -> torch.Tensor:
        """Per-layer maps [B, h, w] -> one [B, H, W]: upsampled and averaged; ``normalize`` scales each
        map before and the mean after upsampling (pytorch-grad-cam's multi-layer rule; with one layer
        the 1e-7 of each scaling matters for maps with small values, so both are kept)."""
        align = bool(opts.align_corners)
        if not opts.normalize:
            return torch.stack([upsample(cam, size, align) for cam in cams]).mean(0)
        return minmax(torch.stack([upsample(minmax(cam), size, align) for cam in cams]).mean(0))

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        opts = self.resolve(**options)
        x = model_input(model, images)
        taps = [cam_tap(model, n) for n in self.layers(model, opts)]
        with untouched(model):
            cams = self.layer_cams(model, x, target, taps, opts)
        return to_maps(self.combine(cams, (x.shape[-2], x.shape[-1]), opts))

    def layer_cams(self, model: GeoModel, x: torch.Tensor, target, layers: Sequence[nn.Module | CamTap],
                   opts: Any = None) -> list[torch.Tensor]:
        """ReLU(sum_k w_k A_k) of each layer at its own resolution, [B, h, w], w from :meth:`cam_weights`.

        A ``CamTap`` turns what its module outputs (ViT tokens) into a [B, C, h, w] map, for the
        activations and their gradients alike (pytorch-grad-cam's ``reshape_transform``)."""
        taps = [t if isinstance(t, CamTap) else CamTap(t, lambda a, hw: a) for t in layers]
        # One pass: only the clean images are scored, so the target (the predicted cell included) is
        # bound to the explained pass's own logits (no separate pass to fix it, as the IG paths need).
        inp = x.clone().requires_grad_(self.needs_gradients)  # so activations need grad even with frozen weights
        with recording([t.module for t in taps]) as acts, torch.set_grad_enabled(self.needs_gradients):
            logits = model(inp)
            bound = self.bind_target(model, target, logits.detach())
            out = bound.score(logits)
        missing = [i for i, a in enumerate(acts) if a is None]
        if missing:
            raise ValueError(f"CAM layer #{missing[0]} was not used by the model's forward pass")
        recorded = [a for a in acts if a is not None]
        grads: Sequence[torch.Tensor | None] = [None] * len(recorded)
        if self.needs_gradients:
            grads = torch.autograd.grad(out.sum(), recorded, allow_unused=True)
        size = (x.shape[-2], x.shape[-1])
        cams = []
        for index, (tap, act, grad) in enumerate(zip(taps, recorded, grads)):
            act = tap.to_map(act.detach(), size)
            if act.ndim != 4:
                raise ValueError(f"CAM layers must output [B, C, h, w] maps, got shape {tuple(act.shape)}")
            if self.needs_gradients:
                grad = tap.to_map(grad, size) if grad is not None else torch.zeros_like(act)
            weights = self.cam_weights(CAMLayer(act, grad, index, model, x, bound, opts))
            weights = weights[:, :, None, None] if weights.ndim == 2 else weights
            cams.append(torch.relu((weights * act).sum(dim=1)).detach())
        return cams
