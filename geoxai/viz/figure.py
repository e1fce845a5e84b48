"""The per-image explanation figure (SemP paper, Figs. 1 and 3).

Panels: the explained view, the explanation heat map over it, the top-k pixels, the concept
segmentation with a legend of the concepts present, the ci scores sorted, and (optionally) the
zoomed world map of the prediction. The title gives the predicted label and coordinate, and the
ground truth with the great-circle error when it is known.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ..ci import resize_nearest, topk_mask  # noqa: E402
from ..concepts import ade20k_palette, resolve_concept  # noqa: E402
from ..geodesy import great_circle_km, validate_coordinates  # noqa: E402
from ..types import GeoPrediction  # noqa: E402
from .worldmap import draw_world_map, format_location, format_probability, mark_random_weights, save_figure  # noqa: E402

__all__ = ["explanation_figure", "concept_colors", "format_scores", "map_units", "figure_title"]

#: what the colour bar of each built-in explainer's map measures
MAP_UNITS = {
    "ig-smoothgrad": "attribution² (IG SmoothGrad², score units squared)",
    "gradcam": "Grad-CAM activation (relative)",
    "combicam": "Combi-CAM activation (relative)",
    # with biases, LRP's epsilon rule lets them absorb most of the score (issue 22 §5, docs/explainers.md)
    "lrp": "LRP relevance (signed; biases absorb most\nof the score, so it does not sum to it)",
    "lrp-transformer": "relevance (the score shared out over every pixel: each one is tiny)",
}

MAX_LEGEND = 12
MAX_BARS = 10


def concept_colors(concepts: Sequence[str]) -> np.ndarray:
    """float [C, 3] colours in [0, 1]: the ADE20k palette colour of each concept name (or synonym);
    names outside ADE20k get tab20 colours."""
    palette = ade20k_palette().astype(np.float64) / 255.0
    fallback = plt.get_cmap("tab20")
    out = np.zeros((len(concepts), 3))
    for i, name in enumerate(concepts):
        try:
            out[i] = palette[resolve_concept(name)]
        except KeyError:
            out[i] = fallback(i % 20)[:3]
    return out


def _scores(ci_scores: Iterable) -> list[tuple[str, float]]:
    """Accept ConceptInfluence.records() dicts or (name, ci) pairs; return them sorted by ci, highest first."""
    pairs = []
    for item in ci_scores:
        if isinstance(item, dict):
            pairs.append((str(item["concept"]), float(item["ci"])))
        else:
            name, score = item
            pairs.append((str(name), float(score)))
    pairs.sort(key=lambda p: -p[1])  # stable: equal scores keep their given order
    return pairs


def format_scores(ci_scores: Iterable, limit: int | None = None) -> str:
    """'building: 2.86, mountain: 0.62, ...' (highest first)."""
    pairs = _scores(ci_scores)[:limit]
    return ", ".join(f"{name}: {score:.2f}" for name, score in pairs) if pairs else "no concept scored"


def _as_numpy(x, name: str, ndim: int) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"explanation_figure: {name} must have {ndim} dimensions, got shape {x.shape}")
    return x


def map_units(explainer: str | None, explanation=None) -> str:
    """The colour bar's label: what the map of ``explainer`` measures (with a word on LRP's tiny
    values, and on any map whose values are all tiny)."""
    label = MAP_UNITS.get(explainer or "", "attribution" if explainer is None else f"{explainer} map value")
    if explanation is not None and "tiny" not in label:
        top = float(np.abs(np.asarray(explanation)).max()) if np.size(explanation) else 0.0
        if 0 < top < 1e-3:
            label += " (tiny values: only their relative size matters)"
    return label


def figure_title(prediction: GeoPrediction, ground_truth=None) -> str:
    """'prediction: LABEL (cell N) at lat .., lon .., p=..' and, where known, the ground truth and error."""
    lines = [f"prediction: {prediction.label} (cell {prediction.cell}) at "
             f"{format_location(prediction.lat, prediction.lon)}, p={format_probability(prediction.probability, 3)}"]
    if ground_truth is not None:
        error = great_circle_km(prediction.lat, prediction.lon, ground_truth[0], ground_truth[1])
        lines.append(f"ground truth: {format_location(ground_truth[0], ground_truth[1])}, "
                     f"GCD error {error:,.1f} km")
    return "\n".join(lines)



def explanation_figure(view_uint8, explanation, segmentation, concepts: Sequence[str], ci_scores: Iterable,
                       prediction: GeoPrediction, ground_truth: tuple[float, float] | None = None,
                       k: int = 1000, path: str | os.PathLike = "explanation.png", world_map: bool = True,
                       top_cells: int = 25, size: tuple[int, int] = (1500, 900),
                       regions: Sequence[dict] | None = None, *, explainer: str | None = None,
                       random_weights: bool = False) -> Path:
    """Write the explanation figure of one image as a PNG of ``size`` (width, height) pixels.

    Args:
        view_uint8: uint8 [H, W, 3] RGB, the exact view the model explained (``model.view(img)``).
        explanation: [h, w] explanation map (resized bilinearly to the view for display).
        segmentation: [h', w'] concept labels (indices into ``concepts``; negatives = unlabelled),
            resized to the view by nearest neighbour.
        concepts: concept names, index = label.
        ci_scores: this image's ``ConceptInfluence.records()`` (or (name, ci) pairs).
        prediction, ground_truth: the model's answer and the true (lat, lon) if known.
        k: the number of top pixels shown (use the k the ci scores were computed with).
        world_map: add the zoomed world-map panel with the top ``top_cells`` cells.
        regions: what a segmenter read in this view (``ConceptMasks.regions[i]``): each dict's
            ``polygon`` (view pixels) is outlined on the view and labelled with its ``text``.
        explainer: the explainer's name: labels the map's colour bar with its units (``map_units``).
        random_weights: the model or segmenter has random weights: the figure says its labels mean
            nothing (``geoxai.plugins.has_random_weights``).
    """
    view = _as_numpy(view_uint8, "view", 3)
    if view.dtype != np.uint8 or view.shape[2] != 3:
        raise ValueError(f"explanation_figure: view must be uint8 [H, W, 3], got {view.dtype} {view.shape}")
    expl = torch.as_tensor(_as_numpy(explanation, "explanation", 2), dtype=torch.float32)
    seg = torch.as_tensor(_as_numpy(segmentation, "segmentation", 2)).long()
    if not bool(torch.isfinite(expl).all()):
        raise ValueError("explanation_figure: explanation contains NaN or infinite values")
    if ground_truth is not None:
        validate_coordinates(ground_truth[0], ground_truth[1], "ground truth")
    height, width = view.shape[:2]
    if int(seg.max()) >= len(concepts):
        raise ValueError(f"explanation_figure: segmentation label {int(seg.max())} but only {len(concepts)} concepts")

    top = topk_mask(expl[None], k)[0]  # same selection (and tie rule) as the ci scores
    k_used = min(int(k), expl.numel())
    if tuple(expl.shape) != (height, width):
        expl = F.interpolate(expl[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]
        top = resize_nearest(top[None].long(), (height, width))[0].bool()
    seg = resize_nearest(seg[None], (height, width))[0].numpy()
    expl, top = expl.numpy(), top.numpy()

    dpi = 100
    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    try:
        _draw(fig, view, expl, top, seg, list(concepts), _scores(ci_scores), prediction, ground_truth,
              k_used, world_map, top_cells, map_units(explainer, expl))
        if regions:
            _label_regions(fig.axes[0], regions)
        if random_weights:
            mark_random_weights(fig, y=0.005, fontsize=11)
    except BaseException:
        plt.close(fig)
        raise
    return save_figure(fig, path, dpi=dpi)


def _label_regions(ax, regions: Sequence[dict]) -> None:
    """Outline each region's polygon on the view panel and write what was read beside it."""
    from matplotlib.patches import Polygon

    for region in regions:
        corners = np.asarray(region.get("polygon") or [], dtype=float)
        if corners.ndim != 2 or len(corners) < 3:
            continue
        ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor="yellow", linewidth=1.2))
        if region.get("text"):
            ax.text(corners[:, 0].min(), corners[:, 1].min(), str(region["text"]), fontsize=7, color="black",
                    va="bottom", bbox={"facecolor": "yellow", "alpha": 0.8, "pad": 1, "linewidth": 0})


def _draw(fig, view, expl, top, seg, concepts, scores, prediction, ground_truth, k, world_map, top_cells,
          units="attribution"):
    # the map gets the widest column: a world map is wider than tall
    grid = fig.add_gridspec(2, 3, left=0.03, right=0.98, top=0.86, bottom=0.07, wspace=0.25, hspace=0.25,
                            width_ratios=[1, 1, 1.5])
    gray = view.mean(axis=2, keepdims=True).repeat(3, axis=2) / 255.0

    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(view)
    ax.set_title("explained view", fontsize=9)
    ax.axis("off")

    ax = fig.add_subplot(grid[0, 1])
    signed = expl.min() < 0
    limit = float(np.percentile(np.abs(expl), 99.5)) or 1.0
    ax.imshow(gray * 0.6)
    heat = ax.imshow(expl, cmap="bwr" if signed else "inferno", alpha=0.65,
                     vmin=-limit if signed else float(expl.min()), vmax=limit)
    bar = fig.colorbar(heat, ax=ax, fraction=0.046, pad=0.02)
    bar.ax.tick_params(labelsize=6)
    bar.set_label(units, fontsize=7)
    ax.set_title("explanation map", fontsize=9)
    ax.axis("off")

    ax = fig.add_subplot(grid[0, 2])
    shown = gray * 0.35
    shown[top] = [1.0, 0.85, 0.1]
    ax.imshow(shown)
    ax.set_title(f"top-{k} pixels", fontsize=9)
    ax.axis("off")

    colors = concept_colors(concepts)
    ax = fig.add_subplot(grid[1, 0])
    rgb = np.zeros(seg.shape + (3,))
    labelled = seg >= 0
    rgb[labelled] = colors[seg[labelled]]
    ax.imshow(0.75 * rgb + 0.25 * gray)
    ax.set_title("segmentation", fontsize=9)
    ax.axis("off")
    labels, counts = np.unique(seg[labelled], return_counts=True)
    present = labels[np.argsort(-counts, kind="stable")][:MAX_LEGEND]
    handles = [Patch(facecolor=colors[c], edgecolor="black", linewidth=0.3, label=concepts[c]) for c in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)

    ax = fig.add_subplot(grid[1, 1])
    bars = scores[:MAX_BARS]
    if bars:
        index = {name: i for i, name in enumerate(concepts)}
        names = [n for n, _ in bars][::-1]
        values = [v for _, v in bars][::-1]
        bar_colors = [colors[index[n]] if n in index else (0.5, 0.5, 0.5) for n in names]
        ax.barh(names, values, color=bar_colors, edgecolor="black", linewidth=0.4)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
        ax.axvline(1.0, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, max(max(values) * 1.25, 1.2))
    else:
        ax.text(0.5, 0.5, "no concept scored", ha="center", va="center", transform=ax.transAxes)
    ax.tick_params(labelsize=7)
    ax.set_title("concept influence (ci)", fontsize=9)

    if world_map:
        draw_world_map(fig.add_subplot(grid[1, 2]), prediction, ground_truth, top_k=top_cells, zoom=True,
                       colorbar=False)

    fig.suptitle(figure_title(prediction, ground_truth) + "\nci: " + format_scores(scores, limit=8), fontsize=10)
