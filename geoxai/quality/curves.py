"""The perturbation engine behind deletion and insertion, and the curves it returns.

Positions (pixels, or ``unit`` x ``unit`` patches ranked by their mean relevance) are ordered by
the map, most relevant first (``order="most"``) or least relevant first (``order="least"``).
Step i removes the first ``counts[i]`` positions, with ``counts = 0, s, 2s, ..., N`` and
``s = ceil(N / steps)`` (torchcam's rule: at most ``steps`` intervals, the last one may be
shorter); deletion replaces the removed positions by the fill, insertion starts from the fill and
puts back the first ``counts[i]`` positions. Every perturbed copy of every image goes through the
model in chunks of ``batch_size`` under ``torch.inference_mode``; the clean image is evaluated
once and the all-fill image is shared by deletion's last and insertion's first point.

From the same forward passes come the geolocation curves: the great-circle distance (km) of the
predicted cell from the clean prediction, and the probability mass within ``radius_km`` of the
clean prediction and of the ground truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..geodesy import great_circle_km
from ..layout import input_layout
from .fills import check_fill, road_impute, static_fill

KINDS = ("deletion", "insertion")
ORDERS = ("most", "least")


def trapezoid_auc(curve: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Area under each row of ``curve`` [B, S] over ``fractions`` [S] (trapezoid rule)."""
    curve = np.asarray(curve, dtype=np.float64)
    return np.trapezoid(curve, np.asarray(fractions, dtype=np.float64), axis=-1)


@dataclass
class Curves:
    """Per-image curves of one perturbation (``kind`` and ``order``); arrays are [B, S].

    ``score`` is the explained target's score (probability or logit, see ``score_kind``); ``km``
    the great-circle distance of the predicted cell from the clean prediction; ``mass_pred`` /
    ``mass_truth`` the probability within ``radius_km`` of the clean prediction / of the ground
    truth (NaN where the truth is unknown).
    """

    kind: str
    order: str
    fractions: np.ndarray
    score: np.ndarray
    km: np.ndarray
    mass_pred: np.ndarray
    mass_truth: np.ndarray
    clean_score: np.ndarray
    image_ids: list[str]
    score_kind: str = "probability"
    radius_km: float = 750.0
    options: dict = field(default_factory=dict)

    def auc(self) -> np.ndarray:
        """Area under the score curve [B], unnormalised (what torchcam and Quantus report)."""
        return trapezoid_auc(self.score, self.fractions)

    def auc_normalized(self) -> np.ndarray:
        """AUC divided by the clean score [B]: 1 = the score never moved, comparable across images."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.auc() / self.clean_score

    def km_auc(self) -> np.ndarray:
        """Mean distance (km) of the prediction from the clean prediction over the curve [B]."""
        return trapezoid_auc(self.km, self.fractions)

    def mass_pred_auc(self) -> np.ndarray:
        return trapezoid_auc(self.mass_pred, self.fractions)

    def mass_truth_auc(self) -> np.ndarray:
        return trapezoid_auc(self.mass_truth, self.fractions)

    def summary(self) -> dict[str, np.ndarray]:
        return {"auc": self.auc(), "auc_norm": self.auc_normalized(), "km_auc": self.km_auc(),
                "mass_pred_auc": self.mass_pred_auc(), "mass_truth_auc": self.mass_truth_auc()}

    def to_frame(self) -> pd.DataFrame:
        """Long form: one row per image and step."""
        b, s = self.score.shape
        return pd.DataFrame({
            "image_id": np.repeat(np.asarray(self.image_ids, dtype=object), s),
            "kind": self.kind, "order": self.order,
            "step": np.tile(np.arange(s), b), "fraction": np.tile(self.fractions, b),
            "score": self.score.ravel(), "km": self.km.ravel(),
            "mass_pred": self.mass_pred.ravel(), "mass_truth": self.mass_truth.ravel(),
        })


def removal_counts(positions: int, steps: int) -> list[int]:
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    step = -(-positions // int(steps))
    return [*range(0, positions, step), positions]


def pixel_ranks(maps: torch.Tensor, unit: int = 1, order: str = "most") -> tuple[torch.Tensor, int]:
    """Rank [B, H, W] of every pixel's position in the removal order, and the number of positions.

    With ``unit`` > 1 a position is a ``unit`` x ``unit`` patch (border patches may be smaller),
    ranked by the mean of the map over it. Ties keep row-major order (stable sort)."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; use most (most relevant first) or least")
    if isinstance(unit, bool) or int(unit) != unit or unit < 1:
        raise ValueError(f"unit must be a positive integer (pixels per patch side), got {unit!r}")
    b, h, w = maps.shape
    values = maps.double()
    if unit > 1:
        values = torch.nn.functional.avg_pool2d(values[:, None], unit, ceil_mode=True)[:, 0]
    gh, gw = values.shape[1:]
    flat = values.reshape(b, gh * gw)
    sort_order = torch.argsort(flat, dim=1, descending=(order == "most"), stable=True)
    ranks = torch.argsort(sort_order, dim=1).view(b, gh, gw)
    if unit > 1:
        ranks = ranks.repeat_interleave(unit, 1).repeat_interleave(unit, 2)[:, :h, :w]
    return ranks.contiguous(), gh * gw


@dataclass
class Geometry:
    """Cell locations and, per image, the cells near the clean prediction and near the truth."""

    cell_lat: torch.Tensor
    cell_lon: torch.Tensor
    clean_cell: torch.Tensor
    near_pred: torch.Tensor   # bool [B, C]
    near_truth: torch.Tensor  # bool [B, C]
    has_truth: torch.Tensor   # bool [B]


def geometry(model, clean_scores: torch.Tensor, truth: np.ndarray | None, radius_km: float) -> Geometry:
    part = model.finest
    lat = torch.as_tensor(part.lat, dtype=torch.float64)
    lon = torch.as_tensor(part.lon, dtype=torch.float64)
    cell = clean_scores.argmax(1).cpu()
    near_pred = great_circle_km(lat[cell][:, None], lon[cell][:, None], lat[None], lon[None]) <= radius_km
    b = len(cell)
    truth = np.full((b, 2), np.nan) if truth is None else np.asarray(truth, dtype=np.float64).reshape(b, 2)
    has_truth = torch.as_tensor(np.isfinite(truth).all(1))
    t = torch.as_tensor(np.nan_to_num(truth))
    near_truth = great_circle_km(t[:, :1], t[:, 1:], lat[None], lon[None]) <= radius_km
    near_truth &= has_truth[:, None]
    return Geometry(lat, lon, cell, near_pred, near_truth, has_truth)


def run_curves(model, x: torch.Tensor, maps: torch.Tensor, fixed, kinds=KINDS, order: str = "most",
               steps: int = 20, fill: str = "blur", unit: int = 1, batch_size: int = 64,
               radius_km: float = 750.0, truth=None, image_ids=None, seed: int = 0,
               blur_sigma: float = 5.0, road_noise: float = 0.01, progress: bool = False,
               clean_scores: torch.Tensor | None = None, memory_format: str = "auto") -> dict[str, Curves]:
    """Deletion and/or insertion curves of float inputs ``x`` [B, 3, H, W] ranked by ``maps``.

    ``fixed`` is the resolved target (``_targets.fix_target``); ``memory_format`` is the layout
    of the perturbed copies (``geoxai.layout.input_layout``). Returns {kind: Curves}."""
    check_fill(fill)
    layout = input_layout(model, x, memory_format)
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown curve {kind!r}; use deletion or insertion")
    if maps.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"maps of shape {tuple(maps.shape)} do not match images {tuple(x.shape)} "
                         f"(need one [H, W] map per image at the model's input size)")
    if not bool(torch.isfinite(maps).all()):
        raise ValueError("maps contain NaN or infinite values")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    b = x.shape[0]
    image_ids = [str(i) for i in range(b)] if image_ids is None else [str(i) for i in image_ids]
    device = x.device
    ranks, positions = pixel_ranks(maps.cpu(), unit, order)
    ranks = ranks.to(device)
    counts = removal_counts(positions, steps)
    fractions = np.asarray(counts, dtype=np.float64) / positions
    with torch.inference_mode():
        if clean_scores is None:
            clean_scores = model(x)
        rows = torch.arange(b, device=device)
        clean_target = fixed.score(clean_scores, rows).double().cpu()
        geo = geometry(model, clean_scores, truth, radius_km)
        fills = None if fill == "road" else static_fill(x, fill, blur_sigma, seed)

        # one job per distinct perturbed input (image, removal mode, count): deletion with c
        # removes the c top positions, insertion with c removes all but them; the clean input
        # (deletion 0, insertion N) is not a job and the all-fill input is shared by both
        s = len(counts)
        keys = {key for kind in kinds for c in counts if (key := _job_key(kind, c, positions)) is not None}
        unique = [(img, *key) for img in range(b) for key in sorted(keys)]
        results: dict[tuple, tuple[float, float, float, float]] = {}
        generator = torch.Generator().manual_seed(int(seed))
        bar = tqdm(total=len(unique), unit="copy", desc=f"{'/'.join(kinds)} ({fill})", disable=not progress,
                   leave=False)
        try:
            for start in range(0, len(unique), batch_size):
                chunk = unique[start:start + batch_size]
                img_idx = torch.as_tensor([j[0] for j in chunk], device=device)
                count = torch.as_tensor([j[2] for j in chunk], device=device)[:, None, None]
                top = ranks[img_idx] < count                                       # [n, H, W]
                is_deletion = torch.as_tensor([j[1] == "deletion" for j in chunk], device=device)
                removed_mask = torch.where(is_deletion[:, None, None], top, ~top)
                if fills is None:
                    batch = torch.stack([
                        torch.where(removed_mask[k][None], road_impute(x[i], removed_mask[k], road_noise,
                                                                       generator).to(device), x[i])
                        for k, i in enumerate(img_idx.tolist())
                    ])
                else:
                    batch = torch.where(removed_mask[:, None], fills[img_idx], x[img_idx])
                scores = model(batch.contiguous(memory_format=layout))
                values = _measure(scores, img_idx, fixed, geo)
                for key, value in zip(chunk, values):
                    results[key] = value
                bar.update(len(chunk))
        finally:
            bar.close()

    clean_cell_km = 0.0
    clean_probs = torch.softmax(clean_scores, 1).double().cpu()
    clean_mass_pred = (clean_probs * geo.near_pred).sum(1)
    clean_mass_truth = torch.where(geo.has_truth, (clean_probs * geo.near_truth).sum(1), torch.nan)
    out = {}
    for kind in kinds:
        arrays = np.full((4, b, s), np.nan)
        for img in range(b):
            for i, c in enumerate(counts):
                key = _job_key(kind, c, positions)
                if key is None:
                    arrays[:, img, i] = (float(clean_target[img]), clean_cell_km,
                                         float(clean_mass_pred[img]), float(clean_mass_truth[img]))
                else:
                    job = (img, *key)  # mypy reads results[(img, *key)] as 3.11's star index
                    arrays[:, img, i] = results[job]
        out[kind] = Curves(
            kind=kind, order=order, fractions=fractions, score=arrays[0], km=arrays[1], mass_pred=arrays[2],
            mass_truth=arrays[3], clean_score=clean_target.numpy().astype(np.float64), image_ids=image_ids,
            score_kind=fixed.kind, radius_km=float(radius_km),
            options={"steps": steps, "fill": fill, "unit": unit, "order": order},
        )
    return out


def _job_key(kind: str, count: int, positions: int) -> tuple[str, int] | None:
    """The canonical name of a perturbed input; None for the clean input."""
    if (kind == "deletion" and count == 0) or (kind == "insertion" and count == positions):
        return None
    if kind == "insertion" and count == 0:
        return ("deletion", positions)  # all removed: the same input as deletion's last point
    return (kind, count)


def _measure(scores: torch.Tensor, img_idx: torch.Tensor, fixed, geo: Geometry) -> list[tuple]:
    target = fixed.score(scores, img_idx).double().cpu()
    probs = torch.softmax(scores, 1).double().cpu()
    rows = img_idx.cpu()
    cell = probs.argmax(1)
    clean = geo.clean_cell[rows]
    km = great_circle_km(geo.cell_lat[cell], geo.cell_lon[cell], geo.cell_lat[clean], geo.cell_lon[clean])
    mass_pred = (probs * geo.near_pred[rows]).sum(1)
    mass_truth = torch.where(geo.has_truth[rows], (probs * geo.near_truth[rows]).sum(1), math.nan)
    return list(zip(target.tolist(), km.tolist(), mass_pred.tolist(), mass_truth.tolist()))
