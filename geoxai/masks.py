"""Concept masks that may overlap: text on a building, a licence plate on a car.

A label map gives every pixel one concept; ``ConceptMasks`` gives every concept its own boolean
mask, so one pixel may belong to several concepts (or to none). ``Segmenter.segment_masks``
returns them (a label-map segmenter's default is the one-hot of its labels) and
``geoxai.ci.concept_influence`` scores them, each concept on its own mask.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["ConceptMasks"]


class ConceptMasks:
    """bool ``masks`` [B, K, H, W] (CPU) over ``concepts`` (K names), plus what the segmenter read.

    ``regions``: None, or per image a list of JSON-able dicts describing the regions found (for
    the ``text`` segmenter: the string read, its confidence, polygon and script); outputs such as
    ``geoxai segment``'s ``<stem>_regions.json`` write them as they are. ``label_map``: the label
    map [B, H, W] the masks were made from (``from_labels``), else None; with it ``labels()`` is
    exact, ci counts by label (the same numbers, faster) and ``masks`` is built only when read.
    """

    def __init__(self, masks: torch.Tensor | None, concepts: Sequence[str],
                 regions: list[list[dict[str, Any]]] | None = None, label_map: torch.Tensor | None = None) -> None:
        self.concepts = list(concepts)
        self.regions = regions
        self.label_map = label_map
        self._masks = masks
        if masks is None:
            if label_map is None or label_map.ndim != 3:
                raise ValueError("ConceptMasks: give masks [B, K, H, W] or a label map [B, H, W]")
            count = int(label_map.shape[0])
        else:
            if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool or masks.ndim != 4:
                got = f"{masks.dtype} {tuple(masks.shape)}" if isinstance(masks, torch.Tensor) \
                    else type(masks).__name__
                raise ValueError(f"ConceptMasks: masks must be bool [B, K, H, W], got {got}")
            if len(self.concepts) != masks.shape[1]:
                raise ValueError(f"ConceptMasks: {masks.shape[1]} masks but {len(self.concepts)} concept names")
            count = int(masks.shape[0])
        if regions is not None and len(regions) != count:
            raise ValueError(f"ConceptMasks: regions for {len(regions)} images, masks for {count}")

    @property
    def masks(self) -> torch.Tensor:
        if self._masks is None:  # the one-hot of the label map, made on first use
            assert self.label_map is not None
            ids = torch.arange(len(self.concepts), device=self.label_map.device)
            self._masks = self.label_map[:, None] == ids[None, :, None, None]
        return self._masks

    def _shape(self) -> tuple[int, int, int]:
        """(B, H, W) without building the masks."""
        known = self._masks if self._masks is not None else self.label_map
        assert known is not None  # __init__ requires one of them
        return int(known.shape[0]), int(known.shape[-2]), int(known.shape[-1])

    def __len__(self) -> int:
        return self._shape()[0]

    @classmethod
    def from_labels(cls, labels: torch.Tensor, concepts: Sequence[str]) -> ConceptMasks:
        """The one-hot masks of a label map [B, H, W] (negative labels: no concept)."""
        if labels.ndim != 3 or labels.is_floating_point():
            raise ValueError(f"ConceptMasks.from_labels: expected integer labels [B, H, W], got "
                             f"{labels.dtype} {tuple(labels.shape)}")
        if labels.numel() and int(labels.max()) >= len(concepts):
            raise ValueError(f"ConceptMasks.from_labels: label {int(labels.max())} but {len(concepts)} concepts")
        return cls(None, concepts, label_map=labels.long())

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
        if self._masks is None:
            assert self.label_map is not None
            flat = self.label_map[i].reshape(-1)
            counts = torch.bincount(flat[flat >= 0], minlength=len(self.concepts)).tolist()
        else:
            counts = self._masks[i].flatten(1).sum(-1).tolist()
        _, h, w = self._shape()
        pixels = max(1, h * w)
        order = sorted((c for c, n in enumerate(counts) if n), key=lambda c: (-counts[c], c))
        return {self.concepts[c]: counts[c] / pixels for c in order}
