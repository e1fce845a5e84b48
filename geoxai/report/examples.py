"""Per-image example figures for the HTML report (the paper's Figure 3 style).

Maps are never kept from the main pass (that would cost memory per image), so the few examples
are recomputed here with the same seeding rule; an existing figure is reused on the next run.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

from ..types import ImageBatch
from .config import ReportConfig
from .loading import decode, view_function

EXAMPLES_DIR = "examples"


def pick_examples(images: pd.DataFrame, n: int, radius_km: float = 750.0) -> pd.DataFrame:
    """Up to ``n`` explained images, alternating correct and incorrect ones, in id order."""
    ok = images[images["status"] == "ok"].sort_values("image_id")
    correct = ok[ok["gcd_km"] <= radius_km]
    incorrect = ok[ok["gcd_km"] > radius_km]
    pools, taken, picked = (correct, incorrect), [0, 0], []
    for i in range(n):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            if taken[which] < len(pools[which]):
                picked.append(pools[which].index[taken[which]])
                taken[which] += 1
                break
    return ok.loc[picked]


def figure_name(image_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", image_id)[:60]
    return f"{safe}-{hashlib.sha1(image_id.encode()).hexdigest()[:8]}.png"


def write_examples(out: Path, config: ReportConfig, images: pd.DataFrame, n: int, components=None,
                   device: str | None = None, radius_km: float = 750.0) -> list[dict]:
    from ..ci import concept_influence
    from ..viz.figure import explanation_figure
    from .worker import load_components, seed_global_torch

    folder = out / EXAMPLES_DIR
    folder.mkdir(exist_ok=True)
    chosen = pick_examples(images, n, radius_km)
    todo = [row for row in chosen.itertuples(index=False) if not (folder / figure_name(row.image_id)).exists()]
    if todo:
        model, explainer, segmenter = components or load_components(config, device)
        view = view_function(model)
        for row in todo:
            record = decode(SimpleNamespace(id=row.image_id, image=row.path, lat=row.lat, lon=row.lon), view)
            if record["pixels"] is None:
                continue  # the file changed or vanished since the main pass
            batch = ImageBatch(torch.from_numpy(record["pixels"])[None], [row.image_id])
            seed_global_torch(config.seed, row.image_id)
            prediction = model.predict(batch, top_k=25)[0]
            maps = explainer.explain(model, batch).detach().float().cpu()
            segmentation = segmenter.segment(batch).cpu()
            influence = concept_influence(maps, segmentation, k=config.k, min_size=config.min_size,
                                          dilation=config.dilation, num_concepts=len(segmenter.concepts))
            explanation_figure(
                batch.to_numpy()[0], maps[0], segmentation[0], segmenter.concepts,
                influence.records(segmenter.concepts, [row.image_id]), prediction,
                ground_truth=(row.lat, row.lon), k=config.k, path=folder / figure_name(row.image_id),
            )
    return [
        {"image_id": row.image_id, "figure": f"{EXAMPLES_DIR}/{figure_name(row.image_id)}",
         "caption": f"{row.image_id}: predicted {row.pred_label} ({row.pred_prob:.0%}), "
                    f"error {row.gcd_km:,.0f} km"}
        for row in chosen.itertuples(index=False) if (folder / figure_name(row.image_id)).exists()
    ]
