"""The dataset-level tables: ci per concept for correct and incorrect predictions (SemP Tables
3 and 4) and geolocation accuracy at the usual radii."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..geodesy import ACCURACY_RADII_KM, accuracy_at
from ..views import SINGLE

SPLITS = ("correct", "incorrect")


@dataclass
class ReportSummary:
    radius_km: float
    min_images: int
    concepts: pd.DataFrame              # one row per reported concept
    accuracy: dict[float, float]
    counts: dict[str, int]
    failed: pd.DataFrame                # image_id, path, error
    config: dict[str, Any] = field(default_factory=dict)
    #: further tables (``geoxai.jobs.sections.Section``), e.g. the explainer's quality
    sections: list[Any] = field(default_factory=list)

    @property
    def views(self) -> str:
        """The prediction protocol of the rows (reports made before it was recorded: single)."""
        return str(self.config.get("views") or SINGLE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "views": self.views,
            "radius_km": self.radius_km,
            "min_images": self.min_images,
            "counts": self.counts,
            "accuracy": {f"{r:g}km": _json_float(v) for r, v in self.accuracy.items()},
            "concepts": [{k: _json_float(v) for k, v in row.items()} for row in self.concepts.to_dict("records")],
            "failed": self.failed.to_dict("records"),
            "config": self.config,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def split_rows(concepts: pd.DataFrame, correct: pd.Series) -> pd.DataFrame:
    """The valid concept rows of explained images, with a ``split`` column (correct/incorrect);
    ``correct``: per explained image id, whether its GCD is within the radius."""
    rows = concepts[concepts["valid"] & concepts["image_id"].isin(correct.index)].copy()
    rows["split"] = np.where(rows["image_id"].map(correct).astype(bool), "correct", "incorrect")
    return rows


def summarize(images: pd.DataFrame, concepts: pd.DataFrame, radius_km: float = 750.0,
              min_images: int = 100, config: dict | None = None) -> ReportSummary:
    """Per-concept images, median and mean ci, split by GCD <= radius (correct) or not.

    Only valid concepts (covering at least min_size of the image) count; a split's statistics are
    reported only if at least ``min_images`` images back them, and a concept is listed if one of
    its splits qualifies. Sorted by the median ci of correct predictions, as in the paper.
    """
    duplicated = images["image_id"][images["image_id"].duplicated()]
    if len(duplicated):  # only a folder two unlocked runs wrote at once; a resume repairs it
        raise ValueError(f"{len(duplicated)} image rows repeat an id (e.g. {duplicated.iloc[0]!r}); run the "
                         f"same command on the folder again to keep one row per image")
    ok = images[images["status"] == "ok"]
    correct = ok.set_index("image_id")["gcd_km"] <= radius_km
    rows = split_rows(concepts, correct)
    stats = rows.groupby(["concept", "split"])["ci"].agg(images="count", ci_median="median", ci_mean="mean")
    table = stats.unstack("split")
    table.columns = [f"{split}_{stat}" for stat, split in table.columns]
    for split in SPLITS:
        for stat in ("images", "ci_median", "ci_mean"):
            if f"{split}_{stat}" not in table:
                table[f"{split}_{stat}"] = np.nan
        table[f"{split}_images"] = table[f"{split}_images"].fillna(0).astype(int)
        too_few = table[f"{split}_images"] < min_images
        table.loc[too_few, [f"{split}_ci_median", f"{split}_ci_mean"]] = np.nan
    keep = (table["correct_images"] >= min_images) | (table["incorrect_images"] >= min_images)
    columns = [f"{s}_{stat}" for s in SPLITS for stat in ("images", "ci_median", "ci_mean")]
    table = table.loc[keep, columns].reset_index()
    table = table.sort_values(["correct_ci_median", "incorrect_ci_median", "concept"],
                              ascending=[False, False, True], na_position="last").reset_index(drop=True)
    failed = images[images["status"] != "ok"][["image_id", "path", "error"]].sort_values("image_id")
    counts = {
        "images": int(len(images)), "ok": int(len(ok)), "failed": int(len(failed)),
        "correct": int(correct.sum()), "incorrect": int((~correct).sum()),
    }
    return ReportSummary(
        radius_km=float(radius_km), min_images=int(min_images), concepts=table,
        accuracy=accuracy_at(ok["gcd_km"].to_numpy(), ACCURACY_RADII_KM), counts=counts,
        failed=failed.reset_index(drop=True), config=config or {},
    )


def concept_table_text(summary: ReportSummary, markdown: bool = False) -> str:
    """The concept table laid out like the paper's Table 3 (text for a terminal, or Markdown)."""
    r = f"{summary.radius_km:g}"
    head = ["concept", f"images (GCD<={r}km)", "ci median", "ci mean",
            f"images (GCD>{r}km)", "ci median", "ci mean"]
    body = []
    for row in summary.concepts.itertuples(index=False):
        body.append([row.concept, str(row.correct_images), _fmt(row.correct_ci_median), _fmt(row.correct_ci_mean),
                     str(row.incorrect_images), _fmt(row.incorrect_ci_median), _fmt(row.incorrect_ci_mean)])
    if not body:
        return f"(no concept has {summary.min_images} or more images in a split)\n"
    return _layout(head, body, markdown)


def accuracy_table_text(summary: ReportSummary, markdown: bool = False) -> str:
    head = [f"{r:g} km" for r in summary.accuracy]
    body = [[_fmt(100 * v, 1) + ("" if math.isnan(v) else " %") for v in summary.accuracy.values()]]
    return _layout(head, body, markdown)


def _layout(head: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n"
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda row: "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in body]) + "\n"


def _fmt(value: float, digits: int = 2) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _json_float(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
