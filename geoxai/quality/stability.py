"""Seed-to-seed stability of stochastic explainers (e.g. SmoothGrad's noise).

The explainer runs once per seed; every pair of seeds is compared per image by the Spearman rank
correlation and the top-k overlap of the two maps, and -- with a segmenter -- by the concept
influence (ci) of each concept, which is what the SemP paper reports: a map can be noisy pixel by
pixel while the ci of a whole concept region stays put. A deterministic explainer scores 1.

Seeds reach an explainer through its ``seed`` option when it has one (``ig-smoothgrad``);
otherwise torch's global generator is seeded before each call (and restored afterwards).
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import torch

from ..interfaces import GeoModel
from ._targets import fix_target, intact_scores, maps_only
from .deletion import as_batch, resolve_explainer
from .sanity import restored_rng
from .similarity import spearman, topk_overlap


@dataclass
class StabilityResult:
    """``spearman`` and ``topk`` are [pairs, B]; ``ci`` is [seeds, B, concepts] (NaN where a concept
    is not scored) when a segmenter was given."""

    seeds: list[int]
    spearman: np.ndarray
    topk: np.ndarray
    k: int
    image_ids: list[str]
    ci: np.ndarray | None = None
    concepts: list[str] | None = None

    def ci_abs_difference(self) -> np.ndarray:
        """Mean over seed pairs of |ci_a - ci_b| per image and concept [B, concepts]."""
        if self.ci is None:
            raise ValueError("stability was computed without a segmenter: no ci")
        diffs = [np.abs(self.ci[a] - self.ci[b]) for a, b in itertools.combinations(range(len(self.seeds)), 2)]
        return np.mean(diffs, axis=0)

    def ci_relative_difference(self) -> float:
        """Mean |ci_a - ci_b| / mean ci over all scored image-concept pairs (0 = perfectly stable)."""
        import warnings

        diff = self.ci_abs_difference()
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # concepts never scored: all-NaN columns
            scale = np.nanmean(cast(np.ndarray, self.ci), axis=0)  # not None: ci_abs_difference checked
            return float(np.nanmean(diff / scale))

    def summary(self) -> dict[str, float]:
        out = {"spearman": float(np.nanmean(self.spearman)), "topk_overlap": float(np.nanmean(self.topk)),
               "k": self.k}
        if self.ci is not None:
            out["ci_relative_difference"] = self.ci_relative_difference()
        return out

    def ci_frame(self) -> pd.DataFrame:
        """Long form: image_id, concept, seed, ci (scored pairs only)."""
        if self.ci is None or self.concepts is None:
            return pd.DataFrame(columns=["image_id", "concept", "seed", "ci"])
        s, b, c = np.nonzero(np.isfinite(self.ci))
        return pd.DataFrame({"image_id": [self.image_ids[i] for i in b], "concept": [self.concepts[i] for i in c],
                             "seed": [self.seeds[i] for i in s], "ci": self.ci[s, b, c]})


def maps_with_seed(explainer, model, images, fixed, seed: int) -> torch.Tensor:
    """The maps of ``explainer`` with noise seed ``seed``: its own ``seed`` option for this call
    (the explainer instance is not changed, so other threads may share it), else torch's global
    generator seeded around the call."""
    if "seed" in getattr(explainer, "defaults", {}):
        return fixed.explain(explainer, model, images, **maps_only(explainer), seed=int(seed))
    with restored_rng():
        torch.manual_seed(int(seed))
        return fixed.explain(explainer, model, images, **maps_only(explainer))


def _rank_agreement(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Spearman per image; two identical maps agree perfectly even when constant (Spearman NaN)."""
    rho = spearman(a, b).numpy()
    identical = (a == b).flatten(1).all(1).numpy()
    return np.where(identical, 1.0, rho)


def stability(model: GeoModel, explainer, images, seeds=(0, 1), target=None, k: int = 1000,
              segmenter=None, ci_k: int = 1000, min_size: float = 0.1,
              known_maps: Mapping[int, torch.Tensor] | None = None,
              clean_scores: torch.Tensor | None = None) -> StabilityResult:
    """Explain ``images`` once per seed and compare the maps (and ci) of every pair of seeds.

    ``known_maps`` {seed: maps [B, H, W]} are maps the caller already made with this explainer,
    target and images for those seeds; they are used instead of explaining again.
    ``clean_scores`` are the model's scores [B, C] on ``images``, if the caller has them."""
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"stability needs at least two distinct seeds, got {seeds}")
    explainer = resolve_explainer(explainer)
    images, x = as_batch(model, images)
    ids = list(images.ids) if hasattr(images, "ids") else [str(i) for i in range(len(x))]
    was_training = model.training
    model.eval()
    try:
        fixed = fix_target(model, intact_scores(model, x, clean_scores), target)
        known = dict(known_maps or {})
        maps = [known[s] if s in known else maps_with_seed(explainer, model, images, fixed, s) for s in seeds]
    finally:
        model.train(was_training)
    pairs = list(itertools.combinations(range(len(seeds)), 2))
    rho = np.stack([_rank_agreement(maps[a], maps[b]) for a, b in pairs])
    top = np.stack([topk_overlap(maps[a], maps[b], k).numpy() for a, b in pairs])
    ci, concepts = None, None
    if segmenter is not None:
        from ..ci import concept_influence

        pixels = images.pixels if hasattr(images, "pixels") else images
        if pixels.dtype != torch.uint8:
            raise ValueError("stability with a segmenter needs uint8 images (an ImageBatch), not a float input")
        segmentation = segmenter.segment_masks(images)  # each concept on its own (possibly overlapping) mask
        concepts = list(segmenter.concepts)
        ci = np.stack([concept_influence(m, segmentation, k=ci_k, min_size=min_size,
                                         num_concepts=len(concepts)).ci.numpy() for m in maps])
    return StabilityResult(seeds, rho, top, int(k), ids, ci, concepts)
