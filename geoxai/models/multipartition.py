"""The shared base of the multi-partition geolocators (s2 of Müller-Budack et al. 2018, SemP).

One CNN backbone, global pooling, and ONE linear head per partitioning (coarse -> fine). The
finest-level scores are either the plain logits of the finest head (``f``) or, with
``hierarchical=True``, the hierarchical ``f*``: the log of the product of each level's softmax
probability at the finest cell's ancestor, so ``softmax(forward(x))`` is the normalised f*
distribution.

Module names are ``model`` (backbone) and ``classifier.N`` (heads), the names of the authors'
PyTorch Lightning modules, so their ``state_dict`` loads with strict key matching.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..interfaces import GeoModel
from ..io.checkpoint import load_checkpoint
from ..types import Partitioning
from ..views import ViewConfig
from .backbones import build_backbone, normalize_arch

CROP_AGGREGATIONS = ("max", "mean")


class MultiPartitionGeoModel(GeoModel):
    """A backbone with one classification head per partitioning (ordered coarse -> fine).

    Options:
        partitionings: the partitionings, coarse -> fine; with ``hierarchical=True`` every
            partitioning but the first needs ``parent`` links to the previous one.
        backbone: ``resnet50`` (default) or another torchvision ResNet, or ``efficientnet_b4``
            (``efficientnet-b4``) / other EfficientNet-B* in the efficientnet_pytorch layout.
        hierarchical: score the finest cells by f* (product over the parent chain) instead of f.
        input_size, resize_size: the explained view is resize(short side) + centre crop
            (``resize_size`` default: ``input_size / 0.875``, the ImageNet ratio).
        tta_resizes: the short-side resizes applied one after the other before the five test-time
            crops (the releases: ``(256,)`` for GeoEstimation, ``(320, 256)`` for the WACV'22 code).
        view_config: the whole view as a ``ViewConfig`` (instead of the three size options).
        crop_aggregation: how the per-partitioning softmax of the crops is combined before the
            hierarchical product: ``max`` (what both public releases do) or ``mean`` (the paper).
        init_weights: False leaves the weights uninitialised, for a strict checkpoint load next.
    """

    name = "multipartition"

    def __init__(
        self,
        partitionings: Sequence[Partitioning],
        backbone: str = "resnet50",
        hierarchical: bool = False,
        input_size: int = 224,
        resize_size: int | None = None,
        tta_resizes: Sequence[int] | None = None,
        crop_aggregation: str = "max",
        init_weights: bool = True,
        view_config: ViewConfig | None = None,
    ) -> None:
        super().__init__()
        if not partitionings:
            raise ValueError("a multi-partition model needs at least one partitioning")
        if crop_aggregation not in CROP_AGGREGATIONS:
            raise ValueError(f"crop_aggregation must be one of {CROP_AGGREGATIONS}, got {crop_aggregation!r}")
        self.partitionings = list(partitionings)
        self.backbone_name = normalize_arch(backbone)
        self.hierarchical = bool(hierarchical)
        self.view_config = view_config or five_crop_view(input_size, resize_size, tta_resizes)
        self.crop_aggregation = crop_aggregation
        # init_weights=False skips the random initialisation (allocated on the meta device, then
        # left uninitialised) for a model whose every tensor is about to come from a checkpoint.
        with torch.device("meta") if not init_weights else contextlib.nullcontext():
            self.model, self.n_features, layers, default = build_backbone(self.backbone_name)
            self.classifier = nn.ModuleList(nn.Linear(self.n_features, len(p)) for p in self.partitionings)
        if not init_weights:
            self.to_empty(device="cpu")
        self.cam_layers = {k: f"model.{v}" for k, v in layers.items()}
        self.default_cam_layer = default
        # Combi-CAM goes over every block; EfficientNet's 32 MBConv blocks are numbered as in the
        # Combi-CAM paper (#0-#31), ResNet's bottlenecks are found by class name.
        blocks = getattr(self.model, "_blocks", None)
        if blocks is not None:
            self.cam_blocks = [f"model._blocks.{i}" for i in range(len(blocks))]
        # ancestors[l, c]: index at level l of the finest cell c's ancestor (identity at the finest level)
        self.ancestors: torch.Tensor
        self.register_buffer("ancestors", torch.as_tensor(self._ancestor_table()), persistent=False)
        self.eval()

    # ---- hierarchy -----------------------------------------------------------------------
    def _ancestor_table(self) -> np.ndarray:
        parts = self.partitionings
        table = np.zeros((len(parts), len(parts[-1])), dtype=np.int64)
        table[-1] = np.arange(len(parts[-1]))
        for level in range(len(parts) - 1, 0, -1):
            finer, coarser = parts[level], parts[level - 1]
            parent = finer.parent
            if parent is None or len(parent) != len(finer) or (parent < 0).any() or (parent >= len(coarser)).any():
                if self.hierarchical:
                    raise ValueError(
                        f"hierarchical model: partitioning {finer.name!r} needs a parent in {coarser.name!r} "
                        f"for every cell (missing or out of range parent links)")
                return np.zeros((0, len(parts[-1])), dtype=np.int64)
            table[level - 1] = parent[table[level]]
        return table

    # ---- the model -----------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def partition_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits [B, |C_l|] of every partitioning, coarse -> fine."""
        z = self.features(x)
        return [head(z) for head in self.classifier]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.partition_logits(x)
        if not self.hierarchical:
            return logits[-1]
        total = torch.log_softmax(logits[0], dim=1)[:, self.ancestors[0]]
        for level, z in enumerate(logits[1:], start=1):
            total = total + torch.log_softmax(z, dim=1)[:, self.ancestors[level]]
        return total

    def hierarchical_product(self, probabilities: Sequence[torch.Tensor]) -> torch.Tensor:
        """Per-level probabilities [..., |C_l|] -> the product along each finest cell's parent chain."""
        out = probabilities[-1].clone()
        for level, p in enumerate(probabilities[:-1]):
            out = out * p[..., self.ancestors[level]]
        return out

    def predict_views(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities [C] from several crops [n, 3, S, S] of one image, as the releases do it:
        the softmax of each partitioning is aggregated over the crops (``crop_aggregation``) and
        only then multiplied along the hierarchy (f*). Renormalised to sum to one (the argmax is
        the releases' prediction)."""
        probs = [torch.softmax(z, dim=1) for z in self.partition_logits(x)]
        if self.crop_aggregation == "max":
            probs = [p.max(dim=0).values for p in probs]
        else:
            probs = [p.mean(dim=0) for p in probs]
        scores = self.hierarchical_product(probs) if self.hierarchical else probs[-1]
        return scores / scores.sum().clamp_min(torch.finfo(scores.dtype).tiny)

    @property
    def tta_resizes(self) -> tuple[int, ...]:
        """The short-side resizes before the five test-time crops (``view_config.test_time_resizes``)."""
        return self.view_config.test_time_resizes or (self.view_config.resize_size,)

    # ---- weights -------------------------------------------------------------------------
    def load_checkpoint(self, path: str | os.PathLike, strict: bool = True) -> MultiPartitionGeoModel:
        """Load a checkpoint file (a Lightning ``.ckpt`` or a plain state_dict) into this model; the
        file is read by :func:`geoxai.io.checkpoint.load_checkpoint`, which never runs code from it."""
        return self.from_state_dict(load_checkpoint(path), strict=strict, source=str(path))

    def from_state_dict(self, state: Mapping[str, Any], strict: bool = True, source: str = "state_dict"
                        ) -> MultiPartitionGeoModel:
        """Load a state_dict (or a Lightning checkpoint dict) with one-line errors on mismatches."""
        state = extract_state_dict(state)
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if shapes or (strict and (missing or unexpected)):
            raise ValueError(f"{source}: checkpoint does not match model {self.name!r} ({self.backbone_name}, "
                             f"{'/'.join(str(len(p)) for p in self.partitionings)} classes): "
                             + "; ".join(_summarise(label, keys) for label, keys in (
                                 ("missing keys", missing), ("unexpected keys", unexpected),
                                 ("shape mismatches", shapes)) if keys))
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)
        return self

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(backbone=self.backbone_name, hierarchical=self.hierarchical,
                    crop_aggregation=self.crop_aggregation, tta_resizes=list(self.tta_resizes))
        return info


def five_crop_view(input_size: int = 224, resize_size: int | None = None,
                   tta_resizes: Sequence[int] | None = None) -> ViewConfig:
    """A centre-crop view with five test-time crops (GeoEstimation's evaluation protocol)."""
    base = ViewConfig.for_crop(input_size) if resize_size is None else ViewConfig(int(input_size), int(resize_size))
    return base.replace(test_time_resizes=tuple(tta_resizes or (base.resize_size,)), test_time_crops="five")


def _summarise(label: str, keys: list[str], show: int = 4) -> str:
    more = f" (+{len(keys) - show} more)" if len(keys) > show else ""
    return f"{len(keys)} {label}: {', '.join(keys[:show])}{more}"


LIGHTNING_PREFIXES = ("module.", "_forward_module.", "_orig_mod.")


def extract_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of a Lightning checkpoint (``{"state_dict": ...}``) or a plain state_dict, with
    wrapper prefixes (DDP ``module.``, Fabric ``_forward_module.``, ``torch.compile``'s
    ``_orig_mod.``) stripped when every key carries them."""
    state = checkpoint
    for key in ("state_dict", "model_state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("checkpoint holds no state_dict of tensors")
    state = dict(state)
    changed = True
    while changed and state:
        changed = False
        for prefix in LIGHTNING_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state
