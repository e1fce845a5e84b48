"""What one model replica does in ``geoxai quality``: decoded records -> (image rows, curve rows)
for one explainer or baseline. The local engine (``run``) and the Ray engine (``ray_engine``)
both run it, so their rows are the same."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..jobs.kind import JobOptions
from ..targets import Cell
from ..types import ImageBatch
from ._targets import fix_target
from .baselines import baseline_maps
from .curves import run_curves
from .store import BASELINE_PREFIX, QualityConfig, explainer_folder


@dataclass
class ExplainerSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        return self.name.startswith(BASELINE_PREFIX)

    @property
    def folder(self) -> str:
        return explainer_folder(self.name, self.options)


@dataclass
class QualityOptions(JobOptions):
    forward_batch: int = 64      # perturbed copies per forward pass
    part_size: int = 16          # images per Parquet part (the unit of resume)
    blur_sigma: float = 5.0
    memory_format: str = "auto"  # layout of the perturbed copies (float rounding only)


class QualityWorker:
    """One model replica; turns decoded records into (image rows, curve rows) for one explainer."""

    def __init__(self, model, config: QualityConfig, spec: ExplainerSpec, options: QualityOptions,
                 segmenter=None) -> None:
        from ..plugins import load_explainer

        self.model, self.config, self.spec, self.options = model, config, spec, options
        self.segmenter = segmenter
        self.explainer = None
        if not spec.is_baseline:
            self.explainer = load_explainer(spec.name, **spec.options)
        self.stochastic = self.explainer is not None and "seed" in getattr(self.explainer, "defaults", {})

    def process(self, records: list[dict], on_image=None) -> tuple[list[dict], list[dict]]:
        """Decoded records -> (image rows, curve rows). Each image is computed on its own, and
        ``on_image()`` is called as its rows are done: a batch of slow images shows progress
        image by image, and the rows do not depend on the batch boundaries (the maps, curves,
        sanity and stability of an image involve that image only)."""
        shard = f"{self.options.shard[0]}/{self.options.shard[1]}"
        base = [{"image_id": r["image_id"], "path": r["path"], "lat": r["lat"], "lon": r["lon"], "shard": shard}
                for r in records]
        rows = [dict(b, status="failed", error=r.get("error") or "no pixels")
                for b, r in zip(base, records) if r.get("error") is not None or r.get("pixels") is None]
        for _ in rows:
            if on_image is not None:
                on_image()
        curve_rows: list[dict] = []
        for b, r in zip(base, records):
            if r.get("error") is None and r.get("pixels") is not None:
                image_rows, curves = self._compute([b], [r])
                rows.extend(image_rows)
                curve_rows.extend(curves)
                if on_image is not None:
                    on_image()
        return rows, curve_rows

    def _compute(self, base: list[dict], records: list[dict]) -> tuple[list[dict], list[dict]]:
        from .sanity import sanity_check
        from .stability import stability

        cfg, model = self.config, self.model
        pixels = torch.from_numpy(np.stack([np.asarray(r["pixels"], dtype=np.uint8) for r in records]))
        batch = ImageBatch(pixels, [r["image_id"] for r in records])
        x = model.as_input(batch).float()
        with torch.inference_mode():
            clean = model(x)
        fixed = fix_target(model, clean, cfg.target, cfg.score)
        if self.explainer is None:
            # seeded per image id: the same map whatever the batch, shard or resume
            kind = self.spec.name[len(BASELINE_PREFIX):]
            maps = torch.cat([baseline_maps(kind, 1, tuple(x.shape[2:]), seed=zlib.crc32(i.encode()) ^ cfg.seed)
                              for i in batch.ids])
        else:
            from ..pipeline import explain_batch

            torch.manual_seed(cfg.seed)
            target = fixed.target
            if fixed.cells is not None and len(torch.unique(fixed.cells)) == 1:
                # one cell for the batch (always so, image by image): ``fixed`` bound it on the clean
                # scores already, so the explainer needs no clean pass of its own to bind it again
                target = Cell(int(fixed.cells[0]))
            # otherwise the target binds inside the explainer (Target.bind): the same cells as ``fixed``
            explanations = explain_batch(model, self.explainer, batch, target, top_k=1, logits=clean)
            maps = torch.stack([e.map for e in explanations]).float()
        truth = np.asarray([[r["lat"], r["lon"]] for r in records], dtype=np.float64)
        rows = [dict(b, status="ok", error=None, clean_score=None) for b in base]
        curve_rows: list[dict] = []
        for order in cfg.orders:
            curves = run_curves(model, x, maps.to(x.device), fixed, order=order, steps=cfg.steps, fill=cfg.fill,
                                unit=cfg.unit, batch_size=self.options.forward_batch, radius_km=cfg.radius_km,
                                truth=truth, image_ids=batch.ids, seed=cfg.seed, blur_sigma=self.options.blur_sigma,
                                clean_scores=clean, memory_format=self.options.memory_format)
            for kind, c in curves.items():
                for metric, values in c.summary().items():
                    for row, v in zip(rows, values):
                        row[f"{kind}_{order}_{metric}"] = _float(v)
                curve_rows.extend(c.to_frame().to_dict("records"))
                for row, v in zip(rows, c.clean_score):
                    row["clean_score"] = float(v)
        for b, row in enumerate(rows):
            row["target_cell"] = None if fixed.cells is None else int(fixed.cells[b])
        if self.explainer is not None and cfg.sanity_stages >= 0:
            result = sanity_check(model, self.explainer, batch, target=fixed.target, stages=cfg.sanity_stages or None,
                                  seed=cfg.seed, maps=maps, clean_scores=clean)
            for b, row in enumerate(rows):
                row["sanity"] = json.dumps({"stages": result.stages, "spearman": result.spearman[:, b].tolist(),
                                            "ssim": result.ssim[:, b].tolist()})
        if self.explainer is not None and self.stochastic and len(cfg.stability_seeds) >= 2:
            # the maps above were made with the explainer's own seed: stability reuses them
            own_seed = {**self.explainer.defaults, **getattr(self.explainer, "options", {})}.get("seed")
            result = stability(model, self.explainer, batch, seeds=cfg.stability_seeds, target=fixed.target,
                               k=cfg.k, segmenter=self.segmenter, ci_k=cfg.k,
                               known_maps=None if own_seed is None else {int(own_seed): maps},
                               clean_scores=clean)
            diff = result.ci_abs_difference() / np.nanmean(result.ci, axis=0) if result.ci is not None else None
            for b, row in enumerate(rows):
                row["stability_spearman"] = float(np.nanmean(result.spearman[:, b]))
                row["stability_topk"] = float(np.nanmean(result.topk[:, b]))
                row["stability_ci_difference"] = _nanmean(diff[b]) if diff is not None else None
        if self.segmenter is not None and self.segmenter.cue_concepts:  # e.g. --segmenter text
            from .cue_recall import cue_recall, cue_union

            recall = cue_recall(maps, cue_union(self.segmenter.segment_masks(batch), self.segmenter.cue_concepts),
                                seed=cfg.seed)
            for b, row in enumerate(rows):
                row["cue_recall_ratio"] = _float(recall.ratio[b])
                row["cue_recall_percentile"] = _float(recall.percentile[b])
        return rows, curve_rows


def _float(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _nanmean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def quality_model_spec(config: QualityConfig):
    """The quality run's model: name, options and weights (``geoxai.jobs.models.ModelSpec``)."""
    from ..jobs.models import ModelSpec

    return ModelSpec(config.model, dict(config.model_options), config.weights)


def build_quality_model(config: QualityConfig):
    """The quality run's model with its options and weights, as its plugin builds it."""
    return quality_model_spec(config).build()
