"""World-map view of a prediction (SemP paper, Fig. 3): the top cells coloured by probability on an
offline country basemap, the predicted location in red and the ground truth in blue.

The basemap is the country outlines that the ``countryinfo`` package ships as GeoJSON (Natural Earth
derived, 1:110m, MIT licensed), read from the installed package: no download ever happens.
"""
from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: geoxai never opens windows
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from ..geodesy import validate_coordinates  # noqa: E402
from ..types import GeoPrediction  # noqa: E402

__all__ = ["country_outlines", "world_map", "map_extent", "save_figure"]

LAND = "#e9e5dc"
BORDER = "#9a9488"
OCEAN = "#d6e6f2"
PREDICTED = "#d62728"
TRUTH = "#1f5fd6"


@lru_cache(maxsize=1)
def country_outlines() -> tuple[np.ndarray, ...]:
    """Every country ring as a float [N, 2] array of (lon, lat), from countryinfo's package data."""
    from importlib.resources import files

    try:
        folder = files("countryinfo").joinpath("data")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "geoxai.viz.worldmap needs the 'countryinfo' package for its offline basemap: pip install countryinfo"
        ) from None
    rings = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        geojson = json.loads(entry.read_text(encoding="utf-8")).get("geoJSON") or {}
        for feature in geojson.get("features", []):
            geometry = feature.get("geometry") or {}
            polygons = geometry.get("coordinates", [])
            if geometry.get("type") == "Polygon":
                polygons = [polygons]
            elif geometry.get("type") != "MultiPolygon":
                continue
            for polygon in polygons:
                for ring in polygon:
                    arr = np.asarray(ring, dtype=np.float64)
                    if arr.ndim == 2 and arr.shape[0] >= 3:
                        rings.append(arr[:, :2])
    return tuple(rings)


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


def draw_world_map(ax, prediction: GeoPrediction, ground_truth: tuple[float, float] | None = None,
                   top_k: int = 25, zoom: bool = False, colorbar: bool = True, legend: bool = True):
    """Draw the map into an existing matplotlib axes (used by ``world_map`` and the explanation figure)."""
    validate_coordinates(prediction.lat, prediction.lon, "prediction")
    if ground_truth is not None:
        validate_coordinates(ground_truth[0], ground_truth[1], "ground truth")
    lat, lon, prob = _points(prediction, top_k)
    ax.set_facecolor(OCEAN)
    ax.add_collection(PolyCollection(country_outlines(), facecolors=LAND, edgecolors=BORDER, linewidths=0.4,
                                     zorder=1))
    order = np.argsort(prob, kind="stable")  # most probable drawn last, on top
    scatter = None
    if len(prob):
        vmax = float(prob.max()) if prob.max() > 0 else 1.0
        scatter = ax.scatter(lon[order], lat[order], c=prob[order], cmap="YlOrRd", vmin=0.0, vmax=vmax,
                             s=30 + 170 * prob[order] / vmax, edgecolors="#333333", linewidths=0.5, zorder=3,
                             label=f"top-{len(prob)} cells")
    ax.scatter([prediction.lon], [prediction.lat], marker="*", s=220, c=PREDICTED, edgecolors="white",
               linewidths=0.8, zorder=5, label="prediction")
    if ground_truth is not None:
        ax.scatter([ground_truth[1]], [ground_truth[0]], marker="o", s=90, c=TRUTH, edgecolors="white",
                   linewidths=0.8, zorder=5, label="ground truth")
    if scatter is not None and colorbar:
        bar = ax.figure.colorbar(scatter, ax=ax, fraction=0.03, pad=0.02)
        bar.set_label("probability", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    if zoom:
        pts_lat = list(lat) + [prediction.lat] + ([ground_truth[0]] if ground_truth is not None else [])
        pts_lon = list(lon) + [prediction.lon] + ([ground_truth[1]] if ground_truth is not None else [])
        box = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        x0, x1, y0, y1 = map_extent(pts_lat, pts_lon, ratio=(box.width * fig_w) / max(box.height * fig_h, 1e-6))
    else:
        x0, x1, y0, y1 = -180.0, 180.0, -90.0, 90.0
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    # equal km per degree along both axes at the map's middle latitude
    ax.set_aspect(1.0 / max(math.cos(math.radians((y0 + y1) / 2)), 0.2), adjustable="box")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("longitude", fontsize=7)
    ax.set_ylabel("latitude", fontsize=7)
    if legend:
        ax.legend(loc="lower left", fontsize=6, framealpha=0.8)
    return ax


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
              top_k: int = 25, zoom: bool = False, size: tuple[int, int] = (1000, 560), title: str | None = None) -> Path:
    """Write the world-map view of ``prediction`` to ``path`` (PNG of ``size`` = (width, height) pixels).

    ``zoom=True`` frames the region around the top cells, the prediction and the ground truth instead
    of the whole world. Returns the path written.
    """
    if top_k < 1:
        raise ValueError(f"world_map: top_k must be >= 1, got {top_k}")
    dpi = 100
    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    try:
        ax = fig.add_subplot(1, 1, 1)
        draw_world_map(ax, prediction, ground_truth, top_k=top_k, zoom=zoom)
        label = title if title is not None else (
            f"{prediction.label} ({prediction.lat:.4f}, {prediction.lon:.4f}), p={prediction.probability:.3f}"
        )
        ax.set_title(label, fontsize=9)
    except BaseException:
        plt.close(fig)
        raise
    return save_figure(fig, path, dpi=dpi)
