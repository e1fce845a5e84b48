"""PNG plots of a report (matplotlib, Agg: no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io.atomic import atomic_path

COLORS = {"correct": "#2a9d8f", "incorrect": "#e76f51"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_medians(table: pd.DataFrame, radius_km: float, path: Path) -> Path:
    """Horizontal grouped bars: median ci per concept, correct vs incorrect predictions."""
    plt = _pyplot()
    n = max(1, len(table))
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * n))
    y = np.arange(len(table))
    for offset, split, label in ((-0.2, "correct", f"GCD <= {radius_km:g} km"),
                                 (0.2, "incorrect", f"GCD > {radius_km:g} km")):
        ax.barh(y + offset, table[f"{split}_ci_median"].to_numpy(dtype=float), height=0.4,
                color=COLORS[split], label=label)
    ax.axvline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(y, table["concept"].tolist())
    ax.invert_yaxis()
    ax.set_xlabel("median concept influence (ci)")
    ax.legend(loc="lower right", fontsize=8)
    if table.empty:
        ax.text(0.5, 0.5, "no concept reaches --min-images", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path = _save(fig, path)
    plt.close(fig)
    return path


def plot_distributions(rows: pd.DataFrame, concepts: list[str], path: Path) -> Path:
    """Box plots of ci per concept (rows: concept, split, ci), correct next to incorrect."""
    plt = _pyplot()
    n = max(1, len(concepts))
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * n))
    for j, split in enumerate(("correct", "incorrect")):
        data, positions = [], []
        for i, concept in enumerate(concepts):
            values = rows.loc[(rows["concept"] == concept) & (rows["split"] == split), "ci"].to_numpy(dtype=float)
            if values.size:
                data.append(values)
                positions.append(i + (j - 0.5) * 0.36)
        if data:
            box = ax.boxplot(data, positions=positions, widths=0.32, vert=False, showfliers=False,
                             patch_artist=True, manage_ticks=False)
            for patch in box["boxes"]:
                patch.set_facecolor(COLORS[split])
                patch.set_alpha(0.75)
        ax.plot([], [], color=COLORS[split], lw=6, label=split)
    ax.set_yticks(np.arange(len(concepts)), concepts)
    ax.set_ylim(-0.7, n - 0.3)
    ax.invert_yaxis()
    ax.axvline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("concept influence (ci), whiskers at 1.5 IQR")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = _save(fig, path)
    plt.close(fig)
    return path
