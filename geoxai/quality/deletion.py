"""Deletion and insertion (Petsiuk et al. 2018, RISE), the faithfulness curves of a map.

A faithful map ranks first the pixels the model relies on: removing them first (deletion, most
relevant first) makes the target's score fall fastest -- a LOW area under the curve is good;
putting them back first into a filled image (insertion) makes it rise fastest -- a HIGH area is
good. The least-relevant-first orders (``order="least"``) read the other way round.

    curves = geoxai.quality.deletion(model, "gradcam", images)       # an explainer (or its name)
    curves = geoxai.quality.insertion(model, maps, images, fill="road")  # or ready maps [B, H, W]
    curves.auc(), curves.auc_normalized(), curves.km_auc()
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..interfaces import Explainer, GeoModel
from ..types import ImageBatch
from ._targets import FixedTarget, fix_target
from .curves import Curves, run_curves


def as_batch(model: GeoModel, images) -> tuple[ImageBatch | torch.Tensor, torch.Tensor]:
    """(what explainers get, the float model input) from an ImageBatch, a uint8/float tensor
    [B, 3, H, W] or a list of RGB uint8 arrays (which go through ``model.prepare``)."""
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], np.ndarray):
        images = model.prepare(list(images))
    if not isinstance(images, (ImageBatch, torch.Tensor)):
        raise ValueError(f"images must be an ImageBatch, a tensor [B, 3, H, W] or a list of RGB arrays, "
                         f"got {type(images).__name__}")
    x = model.as_input(images).detach()
    if not x.is_floating_point():
        x = x.float()
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images [B, 3, H, W], got shape {tuple(x.shape)}")
    return images, x


def resolve_explainer(explainer) -> Explainer:
    if isinstance(explainer, str):
        from ..plugins import load_explainer

        return load_explainer(explainer)
    return explainer


def maps_for(model: GeoModel, explainer_or_maps, images, x: torch.Tensor, fixed: FixedTarget) -> torch.Tensor:
    """Maps [B, H, W] float32: given, or computed by the explainer for the fixed target."""
    if isinstance(explainer_or_maps, (torch.Tensor, np.ndarray)):
        maps = torch.as_tensor(explainer_or_maps).float()
        if maps.ndim == 2:
            maps = maps[None]
        return maps
    explainer = resolve_explainer(explainer_or_maps)
    if not hasattr(explainer, "explain"):
        raise ValueError(f"explainer_or_maps must be an Explainer, its name or maps [B, H, W], "
                         f"got {type(explainer_or_maps).__name__}")
    return fixed.explain(explainer, model, images)


def deletion_insertion(model: GeoModel, explainer_or_maps, images, target=None, steps: int = 20,
                       fill: str = "blur", unit: int = 1, batch_size: int = 64, order: str = "most",
                       score: str = "probability", radius_km: float = 750.0,
                       truth: Sequence[tuple[float, float]] | np.ndarray | None = None,
                       kinds: Sequence[str] = ("deletion", "insertion"), seed: int = 0,
                       blur_sigma: float = 5.0, road_noise: float = 0.01, progress: bool = False,
                       ids: Sequence[str] | None = None, memory_format: str = "auto") -> dict[str, Curves]:
    """Deletion and insertion curves in one pass (they share the all-fill copy). Returns
    {"deletion": Curves, "insertion": Curves}.

    Args:
        model: a GeoModel (left in eval mode; only forward passes, no gradients, are run).
        explainer_or_maps: an Explainer, an explainer name, or maps [B, H, W] at the input size.
        images: ImageBatch, tensor [B, 3, H, W] (uint8 or the model's float input) or RGB arrays.
        target: predicted (default), ``cell:I``, ``region:NODE``, ``within:LAT,LON,KM``, or a Target;
            ``predicted`` is the clean image's top cell for every perturbed copy.
        steps: at most this many removal intervals (torchcam's rule, see ``curves``).
        fill: blur (default), mean, noise or road (see ``fills``).
        unit: side in pixels of the removed patches (1 = pixels).
        order: most (most relevant first, default) or least.
        score: probability (softmax, default) or logit of a cell target; regions always use
            their probability.
        radius_km: radius of the probability-mass curves.
        truth: ground-truth (lat, lon) per image, NaN where unknown.
        memory_format: layout of the perturbed copies: auto (channels_last for convolutional
            models on the CPU, 1.5-2x faster there), contiguous or channels_last; only float
            rounding depends on it.
    """
    was_training = model.training
    model.eval()
    try:
        images, x = as_batch(model, images)
        with torch.inference_mode():
            clean_scores = model(x)
        fixed = fix_target(model, clean_scores, target, score)
        maps = maps_for(model, explainer_or_maps, images, x, fixed)
        if ids is None and isinstance(images, ImageBatch):
            ids = images.ids
        return run_curves(model, x, maps.to(x.device), fixed, kinds=tuple(kinds), order=order, steps=steps,
                          fill=fill, unit=unit, batch_size=batch_size, radius_km=radius_km, truth=truth,
                          image_ids=ids, seed=seed, blur_sigma=blur_sigma, road_noise=road_noise,
                          progress=progress, clean_scores=clean_scores, memory_format=memory_format)
    finally:
        model.train(was_training)


def deletion(model: GeoModel, explainer_or_maps, images, **options: Any) -> Curves:
    """Deletion curves (low AUC = faithful for ``order="most"``); options of ``deletion_insertion``."""
    return deletion_insertion(model, explainer_or_maps, images, kinds=("deletion",), **options)["deletion"]


def insertion(model: GeoModel, explainer_or_maps, images, **options: Any) -> Curves:
    """Insertion curves (high AUC = faithful for ``order="most"``); options of ``deletion_insertion``."""
    return deletion_insertion(model, explainer_or_maps, images, kinds=("insertion",), **options)["insertion"]
