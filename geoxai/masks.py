"""Concept masks that may overlap: text on a building, a licence plate on a car.

A label map gives every pixel one concept; ``ConceptMasks`` gives every concept its own boolean
mask, so one pixel may belong to several concepts (or to none). ``Segmenter.segment_masks``
returns them (a label-map segmenter's default is the one-hot of its labels) and
``geoxai.ci.concept_influence`` scores them, each concept on its own mask.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ConceptMasks"]


@dataclass
class ConceptMasks:
    """bool ``masks`` [B, K, H, W] (CPU) over ``concepts`` (K names), plus what the segmenter read.

    ``regions``: None, or per image a list of JSON-able dicts describing the regions found (for
    the ``text`` segmenter: the string read, its confidence, polygon and script); outputs such as
    ``geoxai segment``'s ``<stem>_regions.json`` write them as they are.
    """

    masks: torch.Tensor
    concepts: list[str]
    regions: list[list[dict[str, Any]]] | None = None
    #: the label map [B, H, W] the masks were made from (``from_labels``), else None; with it
    #: ``labels()`` is exact and ci counts by label (the same numbers, faster)
    label_map: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.masks, torch.Tensor) or self.masks.dtype != torch.bool or self.masks.ndim != 4:
            got = f"{self.masks.dtype} {tuple(self.masks.shape)}" if isinstance(self.masks, torch.Tensor) \
                else type(self.masks).__name__
            raise ValueError(f"ConceptMasks: masks must be bool [B, K, H, W], got {got}")
        self.concepts = list(self.concepts)
        if len(self.concepts) != self.masks.shape[1]:
            raise ValueError(f"ConceptMasks: {self.masks.shape[1]} masks but {len(self.concepts)} concept names")
        if self.regions is not None and len(self.regions) != self.masks.shape[0]:
            raise ValueError(f"ConceptMasks: regions for {len(self.regions)} images, masks for {self.masks.shape[0]}")

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @classmethod
    def from_labels(cls, labels: torch.Tensor, concepts: Sequence[str]) -> ConceptMasks:
        """The one-hot masks of a label map [B, H, W] (negative labels: no concept)."""
        if labels.ndim != 3 or labels.is_floating_point():
            raise ValueError(f"ConceptMasks.from_labels: expected integer labels [B, H, W], got "
                             f"{labels.dtype} {tuple(labels.shape)}")
        ids = torch.arange(len(concepts), device=labels.device)
        labels = labels.long()
        return cls(labels[:, None] == ids[None, :, None, None], list(concepts), label_map=labels)

    def labels(self) -> torch.Tensor:
        """A label map [B, H, W] (long): each pixel gets the LAST concept whose mask covers it, -1
        where none does (so in a combination ``ade20k-hrnet+text`` text is drawn over buildings)."""
        if self.label_map is not None:
            return self.label_map
        b, k, h, w = self.masks.shape
        if k == 0:
            return torch.full((b, h, w), -1, dtype=torch.long)
        last_from_end = self.masks.flip(1).to(torch.uint8).argmax(1)
        return torch.where(self.masks.any(1), k - 1 - last_from_end, torch.full_like(last_from_end, -1))

    def fractions(self, i: int) -> dict[str, float]:
        """Concept -> share of image ``i`` its own mask covers, largest first (absent ones left out).
        With overlapping masks the shares may sum to more than 1."""
        counts = self.masks[i].flatten(1).sum(-1).tolist()
        pixels = max(1, self.masks.shape[-2] * self.masks.shape[-1])
        order = sorted((c for c, n in enumerate(counts) if n), key=lambda c: (-counts[c], c))
        return {self.concepts[c]: counts[c] / pixels for c in order}
