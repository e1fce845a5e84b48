"""Per-image example figures for the HTML report (the paper's Figure 3 style).

The examples are drawn from what the compute pass already made, without building the model,
explainer or segmenter again: while rows are written, an ``ExampleKeeper`` keeps the view, map,
segmentation and top-25 prediction of every image that can still become an example (the ``n``
smallest ids of each split: ``pick_examples`` takes at most ``n`` of either) as a small
``examples/data/<name>.npz``, written atomically before the image's part is committed, so a
resumed run still has them. Only an example whose data is missing (a report computed before
this, or finalised again with another radius) is recomputed, with the same seeding rule; an
existing figure is reused on the next run.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from ..io.images import load_image
from ..jobs.loading import decode, view_function
from ..messages import first_line
from ..types import ImageBatch
from ..views import TEST_TIME
from .config import ReportConfig
from .example_data import example_payload as example_payload  # re-exported: the figure data's public home
from .example_data import read_payload

EXAMPLES_DIR = "examples"
DATA_DIR = "data"  # inside EXAMPLES_DIR: what the compute pass kept for the figures


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


def data_name(image_id: str) -> str:
    return figure_name(image_id)[:-len(".png")] + ".npz"


class ExampleKeeper:
    """Keeps, per split (correct: GCD <= radius), the figure data of the ``n`` smallest image ids
    seen so far, as files in ``<out>/examples/data``; a file pushed out by a smaller id is deleted.
    Starts from the files a previous (killed) run left, so a resume keeps choosing the same ones."""

    def __init__(self, out: Path | None, n: int, radius_km: float) -> None:
        # out=None: ids only, no files (a Ray actor's filter: it ships the data of its candidates)
        self.folder = Path(out) / EXAMPLES_DIR / DATA_DIR if out is not None else None
        self.n, self.radius_km = int(n), float(radius_km)
        self.kept: dict[bool, dict[str, Path | None]] = {True: {}, False: {}}
        if self.n > 0 and self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            for tmp in self.folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
            for path in sorted(self.folder.glob("*.npz")):
                try:
                    with np.load(path, allow_pickle=False) as data:
                        meta = json.loads(str(data["meta"]))
                    split = bool(meta["gcd_km"] <= self.radius_km)
                    image_id = meta["image_id"]
                    if not isinstance(image_id, str) or path.name != data_name(image_id):
                        raise ValueError(f"image_id {image_id!r} does not match the file name")
                except Exception as exc:  # noqa: BLE001 - an unreadable leftover is recomputed if needed
                    print(f"warning: {path}: unreadable example data ({first_line(exc)[:200]}); removed",
                          file=sys.stderr)
                    path.unlink(missing_ok=True)
                    continue
                self.kept[split][image_id] = path
                self._trim(split)

    def wants(self, image_id: str, gcd_km: float) -> bool:
        """Whether the image would be kept now (a Ray actor asks before shipping its data)."""
        if self.n <= 0:
            return False
        kept = self.kept[bool(gcd_km <= self.radius_km)]
        return len(kept) < self.n or image_id in kept or image_id < max(kept)

    def offer(self, row: dict, payload: bytes | None) -> None:
        if payload is None or row.get("status") != "ok" or not self.wants(row["image_id"], row["gcd_km"]):
            return
        from ..io.atomic import write_bytes_atomic

        split = bool(row["gcd_km"] <= self.radius_km)
        path = None
        if self.folder is not None:
            path = self.folder / data_name(row["image_id"])
            write_bytes_atomic(path, _with_gcd(payload, row["gcd_km"]))
        self.kept[split][row["image_id"]] = path
        self._trim(split)

    def _trim(self, split: bool) -> None:
        kept = self.kept[split]
        while len(kept) > self.n:
            path = kept.pop(max(kept))
            if path is not None:
                path.unlink(missing_ok=True)


def _with_gcd(payload: bytes, gcd_km: float) -> bytes:
    """Add the row's GCD to the payload's meta (the keeper sorts files into splits by it)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta["gcd_km"] = float(gcd_km)
    arrays["meta"] = np.asarray(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_examples(out: Path, config: ReportConfig, images: pd.DataFrame, n: int, components=None,
                   device: str | None = None, radius_km: float = 750.0) -> list[dict]:
    """Draw the figures of up to ``n`` examples (see the module doc); returns their HTML entries."""
    folder = out / EXAMPLES_DIR
    folder.mkdir(exist_ok=True)
    chosen = pick_examples(images, n, radius_km)
    todo = [row for row in chosen.itertuples(index=False) if not (folder / figure_name(row.image_id)).exists()]
    missing = []
    for row in todo:
        data = folder / DATA_DIR / data_name(row.image_id)
        if not data.exists():
            missing.append(row)
            continue
        try:
            payload = read_payload(data)
        except Exception as exc:  # noqa: BLE001 - damaged kept data is computed again, not fatal
            print(f"warning: {data}: unreadable example data ({first_line(exc)[:200]}); computing it again",
                  file=sys.stderr)
            data.unlink(missing_ok=True)
            missing.append(row)
            continue
        _draw(folder, config, row, payload)
    if missing:
        _recompute(folder, config, missing, components, device)
    return [
        {"image_id": row.image_id, "figure": f"{EXAMPLES_DIR}/{figure_name(row.image_id)}",
         "caption": f"{row.image_id}: predicted {row.pred_label} ({row.pred_prob:.0%}), "
                    f"error {row.gcd_km:,.0f} km"}
        for row in chosen.itertuples(index=False) if (folder / figure_name(row.image_id)).exists()
    ]


def _draw(folder: Path, config: ReportConfig, row, payload: dict) -> None:
    """One figure from kept data: concept influence is recomputed from map + masks (cheap, CPU)."""
    from ..ci import concept_influence
    from ..types import CellScore, GeoPrediction
    from ..viz.figure import explanation_figure

    heat = torch.from_numpy(payload["heat"]).float()[None]
    segmentation = torch.from_numpy(payload["segmentation"]).long()[None]
    concepts = payload["concepts"]
    influence = concept_influence(heat, segmentation, k=config.k, min_size=config.min_size,
                                  dilation=config.dilation, num_concepts=len(concepts))
    doc = dict(payload["prediction"])
    doc["top_k"] = [CellScore(**c) for c in doc.get("top_k", [])]
    from ..plugins import random_parts

    explanation_figure(
        payload["view"].transpose(1, 2, 0), heat[0], segmentation[0], concepts,
        influence.records(concepts, [row.image_id]), GeoPrediction(**doc),
        ground_truth=(row.lat, row.lon), k=config.k, path=folder / figure_name(row.image_id),
        explainer=config.explainer,
        random_weights=bool(random_parts(config.model, config.model_options, config.segmenter,
                                         config.segmenter_options)),
    )


def _recompute(folder: Path, config: ReportConfig, rows: list, components=None, device: str | None = None) -> None:
    """Examples without kept data: build the components once and compute them again (same seeds)."""
    from .worker import load_components, seed_global_torch

    model, explainer, segmenter = components or load_components(config, device)
    view = view_function(model)
    for row in rows:
        record = decode(SimpleNamespace(id=row.image_id, image=row.path, lat=row.lat, lon=row.lon), view)
        if record["pixels"] is None:
            continue  # the file changed or vanished since the main pass
        batch = ImageBatch(torch.from_numpy(record["pixels"])[None], [row.image_id])
        seed_global_torch(config.seed, row.image_id)
        if config.views == TEST_TIME:  # the figure shows the prediction the row holds
            prediction = model.predict([load_image(row.path)], top_k=25, ids=[row.image_id], views=TEST_TIME)[0]
        else:
            prediction = model.predict(batch, top_k=25)[0]
        maps = explainer.explain(model, batch).detach().float().cpu()
        segmentation = segmenter.segment(batch).cpu()
        _draw(folder, config, row, {"view": record["pixels"], "heat": maps[0].numpy(),
                                    "segmentation": segmentation[0].numpy(), "concepts": list(segmenter.concepts),
                                    "prediction": prediction.to_dict()})
