"""World-map view of a prediction (SemP paper, Fig. 3): every country shaded by the probability
the model puts on it (a choropleth of ``GeoPrediction.top_countries``), the top cells as dots
coloured by probability, the predicted location in red and the ground truth in blue.

The basemap is Natural Earth's 1:50m admin-0 countries packaged with geoxai (``geoxai.countries``),
drawn in the Equal Earth projection (``geoxai.viz.projection``): equal-area, so the shading is not
skewed towards the poles. Nothing is downloaded.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: geoxai never opens windows
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from ..geodesy import validate_coordinates  # noqa: E402
from ..plugins import RANDOM_WEIGHTS_MARK as RANDOM_MARK  # noqa: E402
from ..types import GeoPrediction  # noqa: E402
from .projection import X_MAX, Y_MAX, equal_earth, graticule, world_outline  # noqa: E402

__all__ = ["country_outlines", "country_paths", "world_map", "map_extent", "projected_extent", "save_figure",
           "format_probability", "format_location", "focus_cells"]

LAND = "#e9e5dc"
BORDER = "#9a9488"
OCEAN = "#d6e6f2"
PREDICTED = "#d62728"
TRUTH = "#1f5fd6"
COUNTRY_CMAP = "Greens"


def _polygons(geometry: dict):
    coords = geometry.get("coordinates", [])
    if geometry.get("type") == "Polygon":
        return [coords]
    return coords if geometry.get("type") == "MultiPolygon" else []


@lru_cache(maxsize=1)
def country_outlines() -> tuple[np.ndarray, ...]:
    """Every ring (outer and holes) of every Natural Earth country as float [N, 2] (lon, lat)."""
    from ..countries import _features

    return tuple(np.asarray(ring, dtype=np.float64)[:, :2] for feature in _features()
                 for polygon in _polygons(feature["geometry"]) for ring in polygon if len(ring) >= 3)


@lru_cache(maxsize=1)
def country_paths() -> tuple[tuple[str, ...], tuple[MplPath, ...]]:
    """(country codes, one projected compound path per country, holes cut out), in the order of
    ``geoxai.countries.countries()``."""
    from ..countries import _features, countries

    paths = []
    for feature in _features():
        rings = []
        for polygon in _polygons(feature["geometry"]):
            for k, ring in enumerate(polygon):
                arr = np.asarray(ring, dtype=np.float64)[:, :2]
                if len(arr) < 3:
                    continue
                # outer rings anticlockwise, holes clockwise: matplotlib's nonzero fill cuts the holes
                area = np.sum(arr[:-1, 0] * arr[1:, 1] - arr[1:, 0] * arr[:-1, 1])
                if (area < 0) == (k == 0):
                    arr = arr[::-1]
                x, y = equal_earth(arr[:, 0], arr[:, 1])
                rings.append(MplPath(np.stack([x, y], axis=1), closed=True))
        paths.append(MplPath.make_compound_path(*rings) if rings else MplPath(np.zeros((0, 2))))
    return tuple(c.code for c in countries()), tuple(paths)


def country_shares(prediction: GeoPrediction) -> dict[str, float]:
    """Country code -> probability from ``prediction.top_countries`` (empty when absent)."""
    top = prediction.top_countries or {}
    return {row["code"]: float(row["probability"]) for row in top.get("countries", [])}


def format_probability(p: float, decimals: int = 2) -> str:
    """``decimals`` decimals, but never a misleading 0.00: a probability below 10^-decimals keeps two
    significant digits (0.0014), so a legend beside p=0.953 does not read "0.00"."""
    p = float(p)
    return f"{p:.{decimals}f}" if p >= 10 ** -decimals or p == 0 else f"{p:.2g}"


def format_location(lat: float, lon: float) -> str:
    """'lat 41.3900, lon 2.1700': labelled, so nobody has to guess which number is which."""
    return f"lat {lat:.4f}, lon {lon:.4f}"


def focus_cells(prob: np.ndarray, share: float = 0.1, most: int = 5) -> np.ndarray:
    """Indices of the cells a zoomed map frames: the most probable one and those with at least
    ``share`` of its probability, at most ``most``. The long tail of the top cells, spread over the
    world, would otherwise always zoom the map out to the whole world."""
    if not len(prob):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-prob, kind="stable")[:most]
    return order[prob[order] >= share * prob[order[0]]]


def _points(prediction: GeoPrediction, top_k: int):
    cells = list(prediction.top_k)[:top_k]
    lat = np.array([c.lat for c in cells], dtype=np.float64)
    lon = np.array([c.lon for c in cells], dtype=np.float64)
    prob = np.array([c.probability for c in cells], dtype=np.float64)
    return lat, lon, prob


def map_extent(lats: Sequence[float], lons: Sequence[float], margin_deg: float = 6.0,
               min_span_deg: float = 12.0, ratio: float = 1.8) -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) around the points: padded by ``margin_deg``, at least
    ``min_span_deg`` tall, widened or heightened so that the map (drawn with equal km per degree at
    its middle latitude) is ``ratio`` times as wide as tall, and kept inside the world."""
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    lon0, lon1 = lons.min() - margin_deg, lons.max() + margin_deg
    lat0, lat1 = lats.min() - margin_deg, lats.max() + margin_deg
    cx, cy = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    lat_span = max(lat1 - lat0, min_span_deg)
    shrink = max(math.cos(math.radians(cy)), 0.2)
    lon_span = max(lon1 - lon0, ratio * lat_span / shrink)
    lat_span = max(lat_span, lon_span * shrink / ratio)
    lon_span, lat_span = min(lon_span, 360.0), min(lat_span, 180.0)
    cx = min(max(cx, -180 + lon_span / 2), 180 - lon_span / 2)
    cy = min(max(cy, -90 + lat_span / 2), 90 - lat_span / 2)
    return cx - lon_span / 2, cx + lon_span / 2, cy - lat_span / 2, cy + lat_span / 2


def projected_extent(lats: Sequence[float], lons: Sequence[float], ratio: float = 1.8, margin: float = 0.1,
                     min_height: float = 0.22) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) in Equal Earth units around the points: padded by ``margin`` (about 640 km),
    at least ``min_height`` tall (about 12 degrees of latitude), ``ratio`` times as wide as tall,
    and kept inside the world's frame."""
    x, y = equal_earth(np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64))
    x0, x1, y0, y1 = x.min() - margin, x.max() + margin, y.min() - margin, y.max() + margin
    height = max(y1 - y0, min_height, (x1 - x0) / ratio)
    width = min(height * ratio, 2 * X_MAX)
    height = min(height, 2 * Y_MAX)
    cx = min(max((x0 + x1) / 2, -X_MAX + width / 2), X_MAX - width / 2)
    cy = min(max((y0 + y1) / 2, -Y_MAX + height / 2), Y_MAX - height / 2)
    return cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2


def draw_world_map(ax, prediction: GeoPrediction, ground_truth: tuple[float, float] | None = None,
                   top_k: int = 25, zoom: bool = False, colorbar: bool = True, legend: bool = True):
    """Draw the map into an existing matplotlib axes (used by ``world_map`` and the explanation figure).

    The countries are one PathCollection whose ``country_codes`` attribute names each path."""
    validate_coordinates(prediction.lat, prediction.lon, "prediction")
    if ground_truth is not None:
        validate_coordinates(ground_truth[0], ground_truth[1], "ground truth")
    lat, lon, prob = _points(prediction, top_k)
    codes, paths = country_paths()
    shares = country_shares(prediction)
    cmap = plt.get_cmap(COUNTRY_CMAP)
    top_share = max(shares.values(), default=0.0)
    norm = matplotlib.colors.Normalize(0.0, top_share if top_share > 0 else 1.0)
    faces = [cmap(0.15 + 0.85 * norm(shares[c])) if shares.get(c, 0.0) > 0 else LAND for c in codes]
    ax.set_facecolor("white")
    outline = world_outline()
    ax.fill(outline[:, 0], outline[:, 1], color=OCEAN, zorder=0)
    ax.add_collection(LineCollection(graticule(), colors="white", linewidths=0.5, zorder=0.5))
    lands = PathCollection(paths, facecolors=faces, edgecolors=BORDER, linewidths=0.3, zorder=1)
    lands.country_codes = codes  # type: ignore[attr-defined]  # rides along on the artist, see above
    ax.add_collection(lands)
    px, py = equal_earth(lon, lat)
    order = np.argsort(prob, kind="stable")  # most probable drawn last, on top
    scatter = None
    if len(prob):
        vmax = float(prob.max()) if prob.max() > 0 else 1.0
        scatter = ax.scatter(px[order], py[order], c=prob[order], cmap="YlOrRd", vmin=0.0, vmax=vmax,
                             s=30 + 170 * prob[order] / vmax, edgecolors="#333333", linewidths=0.5, zorder=3,
                             label=f"top-{len(prob)} cells")
    sx, sy = equal_earth(prediction.lon, prediction.lat)
    ax.scatter([sx], [sy], marker="*", s=220, c=PREDICTED, edgecolors="white", linewidths=0.8, zorder=5,
               label="prediction")
    if ground_truth is not None:
        tx, ty = equal_earth(ground_truth[1], ground_truth[0])
        ax.scatter([tx], [ty], marker="o", s=90, c=TRUTH, edgecolors="white", linewidths=0.8, zorder=5,
                   label="ground truth")
    if colorbar:
        if scatter is not None:
            bar = ax.figure.colorbar(scatter, ax=ax, fraction=0.03, pad=0.02)
            bar.set_label("cell probability", fontsize=7)
            bar.ax.tick_params(labelsize=6)
        if shares:
            mappable = matplotlib.cm.ScalarMappable(
                norm=matplotlib.colors.Normalize(0.0, top_share),
                cmap=matplotlib.colors.LinearSegmentedColormap.from_list(
                    "country", [cmap(0.15 + 0.85 * t) for t in np.linspace(0, 1, 64)]))
            bar = ax.figure.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02,
                                     shrink=0.5)
            bar.set_label("country probability (summed over its cells)", fontsize=7)
            bar.ax.tick_params(labelsize=6)
    if zoom:
        focus = focus_cells(prob)
        pts_lat = list(lat[focus]) + [prediction.lat] + ([ground_truth[0]] if ground_truth is not None else [])
        pts_lon = list(lon[focus]) + [prediction.lon] + ([ground_truth[1]] if ground_truth is not None else [])
        box = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        x0, x1, y0, y1 = projected_extent(pts_lat, pts_lon,
                                          ratio=(box.width * fig_w) / max(box.height * fig_h, 1e-6))
    else:
        x0, x1, y0, y1 = -X_MAX * 1.01, X_MAX * 1.01, -Y_MAX * 1.02, Y_MAX * 1.02
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(zoom)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if shares and not colorbar:
            from matplotlib.patches import Patch

            best = max(shares, key=lambda c: shares[c])
            handles.append(Patch(facecolor=cmap(1.0), edgecolor=BORDER,
                                 label=f"country shading: country probability (top: {best} "
                                       f"{format_probability(shares[best])})"))
        ax.legend(handles=handles, loc="lower left", fontsize=6, framealpha=0.8)
    return ax


def mark_random_weights(fig, y: float = 0.01, fontsize: int = 10) -> None:
    """Write the random-weights mark (``plugins.RANDOM_WEIGHTS_MARK``) across the bottom of ``fig``."""
    fig.text(0.5, y, RANDOM_MARK, ha="center", va="bottom", fontsize=fontsize, color="#b00020", fontweight="bold")


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write a matplotlib figure as PNG atomically (temporary file + rename) and close it."""
    from ..io.atomic import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return path


def world_map(prediction: GeoPrediction, path: str | os.PathLike, ground_truth: tuple[float, float] | None = None,
              top_k: int = 25, zoom: bool = False, size: tuple[int, int] = (1000, 560),
              title: str | None = None, *, random_weights: bool = False) -> Path:
    """Write the world-map view of ``prediction`` to ``path`` (PNG of ``size`` = (width, height) pixels).

    ``zoom=True`` frames the region around the most probable cells (``focus_cells``), the prediction
    and the ground truth instead of the whole world. ``random_weights``: the model has random
    weights, and the map says that its places mean nothing. Returns the path written.
    """
    if top_k < 1:
        raise ValueError(f"world_map: top_k must be >= 1, got {top_k}")
    dpi = 100
    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    try:
        ax = fig.add_subplot(1, 1, 1)
        draw_world_map(ax, prediction, ground_truth, top_k=top_k, zoom=zoom)
        label = title if title is not None else (
            f"{prediction.label} ({format_location(prediction.lat, prediction.lon)}), "
            f"p={format_probability(prediction.probability, 3)}"
        )
        ax.set_title(label, fontsize=9)
        if random_weights:
            mark_random_weights(fig)
    except BaseException:
        plt.close(fig)
        raise
    return save_figure(fig, path, dpi=dpi)
