"""The report's concept sections beyond the ci table, as ``geoxai.jobs.sections.Section`` data:

* **Concept Shapley values** (rows written by ``-e concept-shap`` or ``--shapley``): per concept,
  the images, the mean and median Shapley share and the km the answer moves without it;
* **Agreement of ci with Shapley shares**: the Spearman rank correlation of the map's ci with the
  Shapley shares, per image (mean, and per image in ``agreement.csv``) and over all (image,
  concept) pairs pooled (``geoxai.concept_shapley.agreement_table``); only where the map is
  another explainer's (``--shapley``), since concept-shap's own map is its Shapley values;
* **Cues by true country** (rows of a segmenter with cue concepts: ``-s text``, ``-s cues``):
  ``geoxai.report.cues.cue_country_table``, also in ``cues.csv``.

Each is computed from the rows alone, so it is the same after a resume or a merge of shards, and
is absent (no empty table) when the rows do not hold what it needs, e.g. parts written before the
columns existed.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.atomic import atomic_path
from ..jobs.sections import Section

SHAPLEY_COLUMNS = ["image_id", "concept", "concept_index", "ci", "valid", "cue", "shapley_share", "km_removed"]


def concept_sections(out: Path, images: pd.DataFrame, concepts: pd.DataFrame, explainer: str) -> list[Section]:
    """The sections the rows support (``concepts``: with ``SHAPLEY_COLUMNS``), writing their CSVs
    into ``out``; ``explainer``: the report's explainer (its map gives the ci)."""
    ok = set(images.loc[images["status"] == "ok", "image_id"])
    concepts = concepts[concepts["image_id"].isin(ok)]
    sections = []
    shapley = concepts[concepts["shapley_share"].notna()]
    if len(shapley):
        sections.append(shapley_section(shapley))
        if explainer != "concept-shap":
            sections.append(agreement_section(out, shapley, explainer))
    cues = concepts[concepts["cue"].fillna(False).astype(bool)]
    if len(cues):
        section = cue_section(out, images, concepts, sorted(set(cues["concept"])))
        if section is not None:
            sections.append(section)
    return sections


def shapley_section(rows: pd.DataFrame) -> Section:
    table = rows.groupby("concept").agg(images=("image_id", "nunique"), share_mean=("shapley_share", "mean"),
                                        share_median=("shapley_share", "median"),
                                        km_mean=("km_removed", "mean"), km_median=("km_removed", "median"))
    table = table.sort_values(["share_mean", "images"], ascending=[False, False])
    body = [[str(name), str(int(r.images)), _fmt(r.share_mean), _fmt(r.share_median), _fmt(r.km_mean, 0),
             _fmt(r.km_median, 0)] for name, r in table.iterrows()]
    intro = ("Concept influence by perturbation (concept-shap): each concept's Shapley value divided by the sum "
             "of the absolute values in its image (the share; positive: it holds the answer up), and how far the "
             "answer moves when that concept alone is filled, over the images where the concept is present.")
    return Section("Concept Shapley values", intro,
                   ["concept", "images", "share mean", "share median", "km moved without it (mean)", "(median)"],
                   body)


def agreement_per_image(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """(per image: concepts and Spearman, the dataset-level ``agreement_table``) of the valid
    concepts' ci with their Shapley shares."""
    from ..concept_shapley import agreement_table, ci_agreement

    pairs, per_image = [], []
    for image_id, group in rows.groupby("image_id", sort=True):
        valid = group[group["valid"].astype(bool)]
        ci = {int(c): float(v) for c, v in zip(valid["concept_index"], valid["ci"])}
        shares = [{"concept_index": int(c), "share": float(s)}
                  for c, s in zip(group["concept_index"], group["shapley_share"])]
        pairs.append((ci, shares))
        per_image.append({"image_id": image_id, **ci_agreement(ci, shares)})
    return pd.DataFrame(per_image, columns=["image_id", "concepts", "spearman"]), agreement_table(pairs)


def agreement_section(out: Path, rows: pd.DataFrame, explainer: str) -> Section:
    per_image, overall = agreement_per_image(rows)
    with atomic_path(Path(out) / "agreement.csv") as tmp:
        per_image.to_csv(tmp, index=False)
    spearman = per_image["spearman"].dropna()
    body = [["per image (mean)", str(overall["images_with_agreement"]), _fmt(overall["mean_spearman"])],
            ["per image (median)", str(len(spearman)), _fmt(float(spearman.median()) if len(spearman) else None)],
            ["all (image, concept) pairs pooled", str(overall["images"]), _fmt(overall["pooled_spearman"])]]
    intro = (f"Spearman rank correlation of {explainer}'s ci (valid concepts) with the concept Shapley shares: "
             f"1 = both rank the concepts alike. An image counts where at least 3 concepts have both scores "
             f"and neither is constant.")
    return Section(f"Agreement of {explainer} ci with Shapley shares", intro, ["over", "images", "Spearman"], body,
                   link=("per image", "agreement.csv"))


def cue_section(out: Path, images: pd.DataFrame, concepts: pd.DataFrame, cues: list[str]) -> Section | None:
    from .cues import cue_country_table

    table = cue_country_table(images, concepts, cues)
    if table.empty:
        return None
    with atomic_path(Path(out) / "cues.csv") as tmp:
        table.to_csv(tmp, index=False)
    body = [[str(r.concept), f"{r.country} ({r.true_country})", str(int(r.images)), _fmt(r.mean_ci),
             _fmt(r.median_ci), _fmt(100 * r.share_above_1, 0) + " %"] for r in table.itertuples(index=False)]
    intro = ("Which cues matter for which countries: ci of each cue concept of the segmenter, by the photos' "
             "true country (images where the cue is large enough to score; ci > 1: the cue holds more than its "
             "area's share of the most relevant pixels).")
    return Section("Cues by true country", intro,
                   ["cue", "true country", "images", "ci mean", "ci median", "images with ci > 1"], body,
                   link=("cues.csv", "cues.csv"))


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"
