"""Cue recall: does the attribution mass land on the cue regions (text, signs, ...) more than on
random regions of the same area?

For one image with map e (only its positive part counts as evidence: ``e+ = max(e, 0)``) and cue
mask m (the union of the cue concepts' masks)::

    cue_mass    = sum(e+ on m) / sum(e+)
    random_mass = mean over n shifted copies of m (random cyclic shifts: same area, same shape)
    ratio       = cue_mass / random_mass          (> 1: the map favours the cues)
    percentile  = share of the shifted copies holding less mass than m itself

A shifted copy keeps the mask's area and shape exactly, so a map that ignores where the cues are
(e.g. a constant map) gets ratio 1. Images without cue pixels or without positive attribution
get NaN.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..masks import ConceptMasks


@dataclass
class CueRecall:
    """Per image [B] tensors (float64); NaN where the image has no cue pixels or no positive mass."""

    cue_mass: torch.Tensor
    random_mass: torch.Tensor
    ratio: torch.Tensor
    percentile: torch.Tensor
    shifts: int

    def mean_ratio(self) -> float:
        """The ratio averaged over the images that have one (NaN if none)."""
        valid = self.ratio[~self.ratio.isnan()]
        return float(valid.mean()) if len(valid) else float("nan")


def cue_union(masks: ConceptMasks, cues: Sequence[str]) -> torch.Tensor:
    """bool [B, H, W]: pixels in any of the named cue concepts (e.g. ``["text"]``)."""
    missing = [c for c in cues if c not in masks.concepts]
    if missing:
        raise ValueError(f"cue recall: no concept {', '.join(map(repr, missing))} among {', '.join(masks.concepts)}")
    index = torch.tensor([masks.concepts.index(c) for c in cues], dtype=torch.long)
    return masks.masks[:, index].any(1)


def cue_recall(maps: torch.Tensor, cue_masks: torch.Tensor, shifts: int = 64, seed: int = 0) -> CueRecall:
    """Cue recall of maps [B, H, W] against cue masks bool [B, H, W] (same size; see the module doc)."""
    if maps.ndim != 3 or cue_masks.shape != maps.shape or cue_masks.dtype != torch.bool:
        raise ValueError(f"cue recall: maps [B, H, W] and bool cue masks of the same shape are needed, got "
                         f"{tuple(maps.shape)} and {cue_masks.dtype} {tuple(cue_masks.shape)}")
    if int(shifts) < 1:
        raise ValueError(f"cue recall: shifts must be >= 1, got {shifts!r}")
    b, h, w = maps.shape
    mass = maps.detach().double().cpu().clamp_min(0)
    cue_masks = cue_masks.cpu()
    total = mass.flatten(1).sum(1)
    on_cue = (mass * cue_masks).flatten(1).sum(1) / total
    generator = torch.Generator().manual_seed(int(seed))
    # shifts by at least one pixel in some direction, so no copy is the mask itself
    offsets = torch.randint(0, h * w - 1, (int(shifts),), generator=generator) + 1
    shifted = torch.stack([(mass * cue_masks.roll((int(o) // w, int(o) % w), dims=(1, 2))).flatten(1).sum(1)
                           for o in offsets.tolist()], dim=1) / total[:, None]
    random_mass = shifted.mean(1)
    nan = torch.full((b,), float("nan"), dtype=torch.float64)
    usable = cue_masks.flatten(1).any(1) & (total > 0)
    return CueRecall(
        cue_mass=torch.where(usable, on_cue, nan),
        random_mass=torch.where(usable, random_mass, nan),
        ratio=torch.where(usable, on_cue / random_mass, nan),
        percentile=torch.where(usable, (shifted < on_cue[:, None]).double().mean(1), nan),
        shifts=int(shifts),
    )
