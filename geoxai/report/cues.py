"""Which cues matter for which countries: ci per cue concept by the photos' true country.

Reads the report's rows as they are (image rows with ``true_country``, concept rows with
``image_id``, ``concept``, ``ci``, ``valid``), so it works on any report folder whose segmenter
scored cue concepts (``-s text``, ``-s cues``, ``-s ade20k-hrnet+text``).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

COLUMNS = ["concept", "true_country", "country", "images", "mean_ci", "median_ci", "share_above_1"]


def cue_country_table(images: pd.DataFrame, concepts: pd.DataFrame, cues: Iterable[str] | None = None,
                      min_images: int = 1) -> pd.DataFrame:
    """One row per (cue concept, true country) with at least ``min_images`` scored images: how
    many, the mean and median ci, and the share of them where the cue holds more than its area's
    share of the top pixels (ci > 1). ``cues``: the concepts to tabulate (default: every concept
    with a scored row). Sorted by concept, then most images first."""
    if "true_country" not in images or concepts.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = concepts[concepts["valid"].astype(bool)]
    if cues is not None:
        rows = rows[rows["concept"].isin(list(cues))]
    country = images.drop_duplicates("image_id").set_index("image_id")["true_country"]
    rows = rows.assign(true_country=rows["image_id"].map(country)).dropna(subset=["true_country"])
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    table = rows.groupby(["concept", "true_country"]).agg(
        images=("ci", "size"), mean_ci=("ci", "mean"), median_ci=("ci", "median"),
        share_above_1=("ci", lambda ci: float(np.mean(ci > 1.0)))).reset_index()
    table = table[table["images"] >= int(min_images)]
    table["country"] = [_country_name(code) for code in table["true_country"]]
    table = table.sort_values(["concept", "images", "true_country"], ascending=[True, False, True])
    return table[COLUMNS].reset_index(drop=True).astype({"images": int})


def _country_name(code: str) -> str:
    from ..countries import find_country

    try:
        return find_country(code).name
    except (KeyError, ValueError):
        return str(code)
