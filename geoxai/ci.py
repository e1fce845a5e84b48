"""Concept influence (ci): how much of an explanation's top-k pixels fall on one visual concept.

Definition (SemP paper, Sec. 3.2, eq. 1-3), for an image with explanation map e and concept mask m
(dilated by beta pixels when ``dilation > 0``)::

    tki = |m AND topk(e)| / k        s = |m| / (H * W)        ci = tki / s

Concepts whose scored mask covers less than ``min_size`` of the image are not scored. ci > 1 means
the concept holds more of the top-k pixels than its area alone would give it.

The concepts come either as a label map (one concept per pixel) or as ``ConceptMasks`` / bool
masks [B, K, H, W] that may overlap (``Segmenter.segment_masks``). Each concept is scored on its own
mask, so a pixel in two masks counts for both: tki then no longer sums to at most 1 over concepts,
and a top pixel on text written on a building raises the ci of both ``text`` and ``building``.
For masks that do not overlap the two inputs give identical results.

Everything is computed batched over images and concepts: masks never go through a Python loop.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .masks import ConceptMasks

__all__ = ["ConceptInfluence", "concept_influence", "topk_mask", "resize_nearest", "dilate"]

# Bound on the bool one-hot masks built for dilation (elements); larger batches are split by image.
_MAX_ONE_HOT = 1 << 26


@dataclass
class ConceptInfluence:
    """Per image x concept results; every tensor is [B, C] (C = number of concepts).

    ``mask_pixels`` counts the scored mask (the dilated one when ``dilation > 0``), ``concept_pixels``
    the concept's own pixels before dilation. ``ci`` is NaN where ``valid`` is False (concept absent or
    smaller than ``min_size``), so that unscored pairs cannot slip into averages.
    """

    ci: torch.Tensor
    tki: torch.Tensor
    size: torch.Tensor
    mask_pixels: torch.Tensor
    intersection_pixels: torch.Tensor
    concept_pixels: torch.Tensor
    valid: torch.Tensor
    k: torch.Tensor  # [B] number of top pixels actually used: min(k, H * W)
    image_pixels: int
    min_size: float
    dilation: int

    @property
    def num_images(self) -> int:
        return int(self.ci.shape[0])

    @property
    def num_concepts(self) -> int:
        return int(self.ci.shape[1])

    def _names(self, concept_names: Sequence[str] | None) -> list[str]:
        if concept_names is None:
            return [str(c) for c in range(self.num_concepts)]
        if len(concept_names) < self.num_concepts:
            raise ValueError(f"concept_influence: {len(concept_names)} concept names for {self.num_concepts} concepts")
        return list(concept_names)

    def top(self, i: int, concept_names: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Scored concepts of image ``i`` as (name, ci), highest ci first (ties: lower concept index first)."""
        if not 0 <= i < self.num_images:
            raise IndexError(f"image index {i} out of range for {self.num_images} images")
        names = self._names(concept_names)
        return [(names[c], float(self.ci[i, c])) for c in self._ranked(i)]

    def _ranked(self, i: int) -> list[int]:
        idx = torch.nonzero(self.valid[i]).flatten().tolist()
        scores = self.ci[i].tolist()
        idx.sort(key=lambda c: (-scores[c], c))
        return idx

    def records(self, concept_names: Sequence[str] | None = None,
                image_ids: Sequence[str] | None = None) -> list[dict]:
        """One dict per scored (image, concept) pair; per image, highest ci first with its ``rank`` (1 = top)."""
        names = self._names(concept_names)
        if image_ids is None:
            image_ids = [str(b) for b in range(self.num_images)]
        if len(image_ids) != self.num_images:
            raise ValueError(f"concept_influence: {len(image_ids)} image ids for {self.num_images} images")
        out = []
        for b in range(self.num_images):
            for rank, c in enumerate(self._ranked(b), start=1):
                out.append({
                    "image_id": image_ids[b], "concept": names[c], "concept_index": c, "rank": rank,
                    "ci": float(self.ci[b, c]), "tki": float(self.tki[b, c]), "size": float(self.size[b, c]),
                    "mask_pixels": int(self.mask_pixels[b, c]),
                    "intersection_pixels": int(self.intersection_pixels[b, c]),
                    "concept_pixels": int(self.concept_pixels[b, c]),
                    "k": int(self.k[b]), "dilation": self.dilation,
                })
        return out


def topk_mask(explanations: torch.Tensor, k: int) -> torch.Tensor:
    """bool [B, H, W] marking exactly min(k, H*W) pixels per map: the highest values.

    Ties are broken by a stable descending sort over the row-major flattened map, so among equal
    values the pixel that comes first in row-major order (top row first, left to right) wins.
    """
    b, h, w = explanations.shape
    flat = explanations.reshape(b, h * w)
    k_eff = min(int(k), h * w)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :k_eff]
    mask = torch.zeros(b, h * w, dtype=torch.bool, device=flat.device)
    mask.scatter_(1, order, True)
    return mask.view(b, h, w)


def resize_nearest(segmentations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of label maps [B, h, w] -> [B, H, W] by pixel centres.

    Output pixel (r, c) takes the label of source pixel (floor((r + 0.5) * h / H), floor((c + 0.5) * w / W)),
    which keeps labels exact (no interpolation) and is symmetric for up- and downscaling.
    """
    _, h, w = segmentations.shape
    out_h, out_w = size
    if (h, w) == (out_h, out_w):
        return segmentations
    device = segmentations.device
    rows = torch.clamp(((torch.arange(out_h, device=device) + 0.5) * h / out_h).floor().long(), max=h - 1)
    cols = torch.clamp(((torch.arange(out_w, device=device) + 0.5) * w / out_w).floor().long(), max=w - 1)
    return segmentations[:, rows[:, None], cols[None, :]]


def dilate(masks: torch.Tensor, beta: int) -> torch.Tensor:
    """Binary dilation of bool masks [..., H, W] by ``beta`` pixels with the 8-neighbourhood.

    beta iterations of a 3x3 square structuring element equal one (2 beta + 1) square, which is
    separable: a (2 beta + 1)-wide max along the rows, then along the columns. Done as shifted ORs
    on bool tensors (a loop over the beta shifts, never over concepts), several times faster on
    CPU than a float max-pool. Pixels outside the image count as background.
    """
    if beta <= 0:
        return masks
    masks = masks.to(torch.bool)
    h, w = masks.shape[-2], masks.shape[-1]
    grown = masks.clone()
    for d in range(1, min(beta, w - 1) + 1):
        grown[..., :, d:] |= masks[..., :, :-d]
        grown[..., :, :-d] |= masks[..., :, d:]
    rows = grown
    grown = rows.clone()
    for d in range(1, min(beta, h - 1) + 1):
        grown[..., d:, :] |= rows[..., :-d, :]
        grown[..., :-d, :] |= rows[..., d:, :]
    return grown


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"concept_influence: {name} must be a tensor or numpy array, got {type(x).__name__}")
    return x


def concept_influence(explanations, segmentations, k: int = 1000, min_size: float = 0.1,
                      dilation: int = 0, num_concepts: int | None = None) -> ConceptInfluence:
    """Concept influence of every concept in every image.

    Args:
        explanations: float [B, H, W] (or [H, W]) explanation maps; higher = more important.
        segmentations: integer [B, h, w] (or [h, w]) concept label maps; negative labels mean
            "unlabelled" (counted in the image area, never scored). Or possibly overlapping masks:
            ``ConceptMasks`` or bool [B, K, h, w], each concept scored on its own mask. If
            (h, w) != (H, W) they are resized to (H, W) by nearest neighbour (see ``resize_nearest``).
        k: number of top pixels; capped at H*W (then every pixel is "top" and each present concept
            gets ci = 1).
        min_size: concepts whose scored mask covers less than this fraction of the image are not scored.
        dilation: beta, the number of pixels by which each concept mask grows (8-neighbourhood,
            i.e. a (2 beta + 1) square); the grown mask is both intersected and used for the size.
        num_concepts: C; default max label + 1 (for masks: K, which it must equal when given).
    """
    explanations = _as_tensor(explanations, "explanations")
    if isinstance(segmentations, ConceptMasks):  # the label map where there is one: same counts, less work
        if num_concepts is not None and int(num_concepts) != len(segmentations.concepts):
            raise ValueError(f"concept_influence: {len(segmentations.concepts)} masks but num_concepts {num_concepts}")
        num_concepts = len(segmentations.concepts)
        segmentations = segmentations.masks if segmentations.label_map is None else segmentations.label_map
    segmentations = _as_tensor(segmentations, "segmentations")
    if explanations.ndim == 2:
        explanations = explanations[None]
    if segmentations.ndim == 2:
        segmentations = segmentations[None]
    masks_given = segmentations.ndim == 4 and segmentations.dtype == torch.bool
    if explanations.ndim != 3 or (segmentations.ndim != 3 and not masks_given):
        raise ValueError(f"concept_influence: expected explanations [B,H,W] and segmentations [B,h,w] "
                         f"(or bool masks [B,K,h,w]), got "
                         f"{tuple(explanations.shape)} and {tuple(segmentations.shape)}")
    if explanations.shape[0] != segmentations.shape[0]:
        raise ValueError(f"concept_influence: {explanations.shape[0]} explanation maps but "
                         f"{segmentations.shape[0]} segmentations")
    if not explanations.is_floating_point() or segmentations.is_floating_point():
        raise ValueError(f"concept_influence: explanations must be float and segmentations integer, got "
                         f"{explanations.dtype} and {segmentations.dtype}")
    if not bool(torch.isfinite(explanations).all()):
        raise ValueError("concept_influence: explanations contain NaN or infinite values")
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"concept_influence: k must be a positive integer, got {k!r}")
    if isinstance(dilation, bool) or int(dilation) != dilation or dilation < 0:
        raise ValueError(f"concept_influence: dilation must be a non-negative integer, got {dilation!r}")
    if not 0.0 <= float(min_size) <= 1.0:
        raise ValueError(f"concept_influence: min_size must be in [0, 1], got {min_size!r}")
    k, dilation, min_size = int(k), int(dilation), float(min_size)

    b, h, w = explanations.shape
    n = h * w
    top = topk_mask(explanations, k)
    if masks_given:
        if num_concepts is not None and int(num_concepts) != segmentations.shape[1]:
            raise ValueError(f"concept_influence: {segmentations.shape[1]} masks but num_concepts {num_concepts}")
        concept_pixels, mask_pixels, intersection = _mask_counts(segmentations, top, dilation)
    else:
        concept_pixels, mask_pixels, intersection = _label_counts(segmentations, top, dilation, num_concepts)
    k_eff = torch.full((b,), min(k, n), dtype=torch.long)
    size = mask_pixels.double() / n
    tki = intersection.double() / k_eff.double()[:, None].to(intersection.device)
    valid = (concept_pixels > 0) & (size >= min_size)
    ci = torch.where(valid, tki / size.clamp_min(1.0 / n), torch.full_like(tki, float("nan")))
    return ConceptInfluence(
        ci=ci.cpu(), tki=tki.cpu(), size=size.cpu(), mask_pixels=mask_pixels.cpu(),
        intersection_pixels=intersection.cpu(), concept_pixels=concept_pixels.cpu(), valid=valid.cpu(),
        k=k_eff, image_pixels=n, min_size=min_size, dilation=dilation,
    )


def _mask_counts(masks: torch.Tensor, top: torch.Tensor, dilation: int):
    """(concept, mask, intersection) pixels [B, K] of bool masks [B, K, h, w], each concept on its own
    mask; images are taken in chunks that bound the memory of the resized and grown masks."""
    b, k_masks = masks.shape[:2]
    h, w = top.shape[-2:]
    counts = [torch.zeros(b, k_masks, dtype=torch.long, device=top.device) for _ in range(3)]
    chunk = max(1, _MAX_ONE_HOT // max(1, k_masks * h * w))
    for start in range(0, b, chunk):
        stop = min(start + chunk, b)
        part = masks[start:stop].to(top.device)
        part = resize_nearest(part.flatten(0, 1), (h, w)).view(stop - start, k_masks, h, w)
        grown = dilate(part, dilation)
        counts[0][start:stop] = part.flatten(2).sum(-1)
        counts[1][start:stop] = grown.flatten(2).sum(-1)
        counts[2][start:stop] = (grown & top[start:stop, None]).flatten(2).sum(-1)
    return counts[0], counts[1], counts[2]


def _label_counts(segmentations: torch.Tensor, top: torch.Tensor, dilation: int, num_concepts: int | None):
    """(concept, mask, intersection) pixels [B, C] of label maps [B, h, w]."""
    b, h, w = top.shape
    n = h * w
    labels = resize_nearest(segmentations.to(top.device).long(), (h, w))
    max_label = int(labels.max()) if labels.numel() else -1
    num_concepts = max_label + 1 if num_concepts is None else int(num_concepts)
    if max_label >= num_concepts:
        raise ValueError(f"concept_influence: segmentation label {max_label} >= num_concepts {num_concepts}")
    c = max(num_concepts, 0)

    flat_labels = labels.reshape(b, n)
    labelled = flat_labels >= 0
    offset = torch.arange(b, device=labels.device)[:, None] * c
    index = (flat_labels + offset)
    concept_pixels = torch.bincount(index[labelled], minlength=b * c).view(b, c)

    if dilation == 0:
        mask_pixels = concept_pixels
        hit = labelled & top.reshape(b, n)
        intersection = torch.bincount(index[hit], minlength=b * c).view(b, c)
    else:
        mask_pixels, intersection = _dilated_counts(labels, top, concept_pixels > 0, dilation)
    return concept_pixels, mask_pixels, intersection


def _dilated_counts(labels: torch.Tensor, top: torch.Tensor, present: torch.Tensor, beta: int):
    """(mask pixels, intersection pixels) [B, C] of the dilated concept masks.

    Each image only builds masks for its own concepts (``present`` [B, C] bool), padded to the
    largest count in its chunk of images; chunks bound the memory of the bool masks.
    """
    b, h, w = labels.shape
    c = present.shape[1]
    mask_pixels = torch.zeros(b, c, dtype=torch.long, device=labels.device)
    intersection = torch.zeros_like(mask_pixels)
    counts = present.sum(1)
    if c == 0 or int(counts.max()) == 0:
        return mask_pixels, intersection
    # concept ids of each image, present ones first (stable keeps them in index order)
    order = torch.argsort((~present).to(torch.int8), dim=1, stable=True)
    chunk = max(1, _MAX_ONE_HOT // (int(counts.max()) * h * w))
    for start in range(0, b, chunk):
        stop = min(start + chunk, b)
        slots = int(counts[start:stop].max())
        ids = order[start:stop, :slots]
        in_use = torch.arange(slots, device=labels.device)[None] < counts[start:stop, None]
        wanted = torch.where(in_use, ids, torch.full_like(ids, -2))  # -2 never matches a label
        grown = dilate(labels[start:stop, None] == wanted[:, :, None, None], beta)  # [b', slots, H, W]
        area = grown.flatten(2).view(torch.uint8).sum(-1, dtype=torch.int64)
        hits = (grown & top[start:stop, None]).flatten(2).view(torch.uint8).sum(-1, dtype=torch.int64)
        # padded slots point at absent concepts and carry zeros: scattering them is harmless
        mask_pixels[start:stop].scatter_(1, ids, area)
        intersection[start:stop].scatter_(1, ids, hits)
    return mask_pixels, intersection
