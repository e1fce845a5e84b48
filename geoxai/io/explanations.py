"""Writing ``Explanation`` objects (``geoxai.pipeline``) as files, each written atomically:

``<stem>.npy`` (the raw map), ``<stem>_overlay.png`` (the map over the explained view),
``<stem>_figure.png`` (the explanation figure; skipped with ``figure=False``), ``<stem>_map.png``
(the top cells on a world map, on request) and ``<stem>.json`` (everything else). The JSON
document is returned, so a caller (the app) never reads back what it wrote."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..views import SINGLE
from .atomic import atomic_path, write_text_atomic

if TYPE_CHECKING:
    from ..pipeline import Explanation

CI_KEYS = ("concept", "concept_index", "rank", "ci", "tki", "size", "mask_pixels", "intersection_pixels")
WORLD_MAPS = ("none", "world", "zoom")


def explanation_document(explanation: Explanation, stem: str, files: dict[str, str] | None = None,
                         meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of one explanation (``meta``: extra top-level facts, e.g. weights provenance)."""
    e = explanation
    provenance = e.provenance
    heat = e.map
    doc: dict[str, Any] = {
        "image": str(e.path) if e.path is not None else e.id,
        "model": provenance.get("model"), "explainer": provenance.get("explainer"),
        "options": provenance.get("options", {}), "target": e.target, "views": SINGLE,
        **(meta or {}),
        "explained_cell": e.explained_cell,
        "prediction": e.prediction.to_dict(),
        "map": {"file": f"{stem}.npy", "shape": list(heat.shape), "min": float(heat.min()), "max": float(heat.max())},
    }
    if e.info is not None:
        doc["explainer_info"] = e.info
    if e.warnings:
        doc["warnings"] = list(e.warnings)
    if e.test_time_prediction is not None:
        doc["test_time_prediction"] = e.test_time_prediction.to_dict()
    if e.ground_truth is not None:
        doc["ground_truth"] = {"lat": e.ground_truth[0], "lon": e.ground_truth[1], "gcd_km": e.gcd_km}
    if e.ci is not None and e.ci_settings is not None:
        doc["concept_influence"] = {
            "segmenter": provenance.get("segmenter"), "k": min(e.ci_settings.k, int(heat.numel())),
            "min_size": e.ci_settings.min_size, "dilation": e.ci_settings.dilation,
            "scores": [{key: row[key] for key in CI_KEYS} for row in e.ci],
        }
        if e.regions is not None:  # what the segmenter read (text: string, score, polygon, script)
            doc["concept_influence"]["regions"] = e.regions
    if files:
        doc["files"] = dict(files)
    return doc


def write_explanation(out_dir: Path, explanation: Explanation, stem: str | None = None, *, figure: bool = True,
                      world_map: str = "none", meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one explanation's files into ``out_dir``; returns its JSON document."""
    from ..viz.overlay import save_overlay

    if world_map not in WORLD_MAPS:
        raise ValueError(f"world map {world_map!r}: use one of {', '.join(WORLD_MAPS)}")
    out_dir = Path(out_dir)
    stem = stem or explanation.id
    heat = explanation.map.detach().cpu().numpy().astype(np.float32)
    with atomic_path(out_dir / f"{stem}.npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, heat)
    save_overlay(out_dir / f"{stem}_overlay.png", explanation.view, heat)
    files: dict[str, str] = {}
    if figure:
        explanation.figure(out_dir / f"{stem}_figure.png")
        files["figure"] = f"{stem}_figure.png"
    if world_map != "none" and explanation.prediction.top_k:
        from ..viz.worldmap import world_map as draw_map

        draw_map(explanation.prediction, out_dir / f"{stem}_map.png", ground_truth=explanation.ground_truth,
                 zoom=world_map == "zoom", random_weights=explanation.random_weights)
        files["map"] = f"{stem}_map.png"
    doc = explanation_document(explanation, stem, files, meta)
    write_text_atomic(out_dir / f"{stem}.json", json.dumps(doc, indent=2, default=str))
    return doc
