"""The report's country view: where the model puts the dataset's photos, country by country.

Each explained image counts once, in the country with the most predicted probability (the
``pred_country`` column the worker writes from ``GeoPrediction.top_countries``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["code", "name", "continent", "images", "share", "correct", "incorrect", "right_country"]


def country_table(images: pd.DataFrame, radius_km: float) -> pd.DataFrame:
    """One row per predicted country: images, their share of the explained images, how many are
    correct (GCD <= radius) or not, and how many truly lie in that country; most images first."""
    from ..countries import find_country

    if "pred_country" not in images:
        return pd.DataFrame(columns=COLUMNS)
    ok = images[(images["status"] == "ok") & images["pred_country"].notna()]
    if ok.empty:
        return pd.DataFrame(columns=COLUMNS)
    correct = ok["gcd_km"] <= radius_km
    frame = pd.DataFrame({
        "code": ok["pred_country"].to_numpy(), "correct": correct.to_numpy(),
        "right_country": (ok["pred_country"] == ok["true_country"]).to_numpy(),
    })
    table = frame.groupby("code").agg(images=("correct", "size"), correct=("correct", "sum"),
                                      right_country=("right_country", "sum")).reset_index()
    table["incorrect"] = table["images"] - table["correct"]
    table["share"] = table["images"] / len(ok)
    table["name"] = [find_country(c).name for c in table["code"]]
    table["continent"] = [find_country(c).continent for c in table["code"]]
    table = table.sort_values(["images", "code"], ascending=[False, True]).reset_index(drop=True)
    return table[COLUMNS].astype({"images": int, "correct": int, "incorrect": int, "right_country": int})


def plot_country_map(table: pd.DataFrame, path: Path) -> Path:
    """A world map (Equal Earth) with each country shaded by its share of the predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    from ..viz.projection import X_MAX, Y_MAX, world_outline
    from ..viz.worldmap import BORDER, LAND, OCEAN, country_paths, save_figure

    codes, paths = country_paths()
    share = dict(zip(table["code"], table["share"]))
    top = max(share.values(), default=0.0) or 1.0
    cmap = plt.get_cmap("Greens")
    faces = [cmap(0.15 + 0.85 * share[c] / top) if share.get(c, 0) > 0 else LAND for c in codes]
    fig = plt.figure(figsize=(10, 5.2), dpi=100)
    try:
        ax = fig.add_subplot(1, 1, 1)
        outline = world_outline()
        ax.fill(outline[:, 0], outline[:, 1], color=OCEAN, zorder=0)
        ax.add_collection(PathCollection(paths, facecolors=faces, edgecolors=BORDER, linewidths=0.3, zorder=1))
        ax.set_xlim(-X_MAX * 1.01, X_MAX * 1.01)
        ax.set_ylim(-Y_MAX * 1.02, Y_MAX * 1.02)
        ax.set_aspect("equal")
        ax.axis("off")
        mappable = matplotlib.cm.ScalarMappable(
            norm=matplotlib.colors.Normalize(0.0, 100 * top),
            cmap=matplotlib.colors.LinearSegmentedColormap.from_list(
                "share", [cmap(0.15 + 0.85 * t) for t in np.linspace(0, 1, 64)]))
        bar = fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02, shrink=0.5)
        bar.set_label("% of explained images predicted in the country", fontsize=8)
        ax.set_title("Predicted country of each image (made with Natural Earth)", fontsize=10)
    except BaseException:
        plt.close(fig)
        raise
    return save_figure(fig, path)
