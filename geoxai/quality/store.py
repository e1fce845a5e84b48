"""The per-image rows of ``geoxai quality`` on disk: the report's atomic Parquet parts, with a
curves table in place of the concepts table, one folder per explainer (and baseline).

    OUT/config.json               model, target, steps, fill, ... (what every explainer shares)
    OUT/<explainer>/explainer.json  the explainer and its options
    OUT/<explainer>/images/part-*.parquet   one row per image: AUCs, sanity, stability
    OUT/<explainer>/curves/part-*.parquet   one row per image, curve and step
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..io.atomic import write_text_atomic
from ..jobs.store import BASE_IMAGE_FIELDS, PartStore

KINDS = ("deletion", "insertion")
METRICS = ("auc", "auc_norm", "km_auc", "mass_pred_auc", "mass_truth_auc")
BASELINE_PREFIX = "baseline-"


def metric_columns(orders=("most", "least")) -> list[str]:
    return [f"{kind}_{order}_{metric}" for kind in KINDS for order in orders for metric in METRICS]


QUALITY_IMAGE_SCHEMA = pa.schema([
    *BASE_IMAGE_FIELDS, ("shard", pa.string()),
    ("target_cell", pa.int64()), ("clean_score", pa.float64()),
    *[(c, pa.float64()) for c in metric_columns()],
    ("sanity", pa.string()),  # JSON {"stages": [...], "spearman": [...], "ssim": [...]}
    ("stability_spearman", pa.float64()), ("stability_topk", pa.float64()),
    ("stability_ci_difference", pa.float64()),
    # with a segmenter that has cue concepts (text, cues): mass on the cues vs shifted copies
    ("cue_recall_ratio", pa.float64()), ("cue_recall_percentile", pa.float64()),
])

CURVE_SCHEMA = pa.schema([
    ("image_id", pa.string()), ("kind", pa.string()), ("order", pa.string()), ("step", pa.int64()),
    ("fraction", pa.float64()), ("score", pa.float64()), ("km", pa.float64()),
    ("mass_pred", pa.float64()), ("mass_truth", pa.float64()),
])


class QualityStore(PartStore):
    image_schema = QUALITY_IMAGE_SCHEMA
    concept_schema = CURVE_SCHEMA
    concepts_folder = "curves"


@dataclass
class QualityConfig:
    """What every row of an output folder depends on besides the explainer (its fingerprint)."""

    model: str
    model_options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    target: str = "predicted"
    score: str = "probability"
    steps: int = 20
    fill: str = "blur"
    unit: int = 1
    orders: tuple[str, ...] = ("most", "least")
    radius_km: float = 750.0
    sanity_stages: int = 0          # 0 = every stage; -1 = no sanity check
    stability_seeds: tuple[int, ...] = (0, 1)
    segmenter: str | None = None
    k: int = 1000
    seed: int = 0
    data_hash: str = ""

    def fingerprint(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=list))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityConfig:
        known = set(cls.__dataclass_fields__)
        out = cls(**{k: v for k, v in d.items() if k in known})
        out.orders = tuple(out.orders)
        out.stability_seeds = tuple(out.stability_seeds)
        return out


def bind_json(path: Path, wanted: dict[str, Any], what: str) -> None:
    """Write ``wanted`` to ``path`` in a new folder, or refuse a folder made with other settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        existing = json.loads(path.read_text())
        changed = sorted(k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k))
        if changed:
            diffs = "; ".join(f"{k}: {existing.get(k)!r} -> {wanted.get(k)!r}" for k in changed)
            raise ValueError(f"{path.parent} holds {what} made with other settings ({diffs}); "
                             f"use another --out or delete it")
        return
    write_text_atomic(path, json.dumps(wanted, indent=2, sort_keys=True))


def explainer_folder(name: str, options: dict[str, Any]) -> str:
    """Folder name of an explainer: its name, plus a short hash of non-default options."""
    if not options:
        return name
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{name}-{digest}"
