"""``run_quality``: the measures over a dataset into an output folder, resumable and shardable.

For each explainer (and each baseline map) the shard's open images are decoded in batches, maps
computed once per batch, then deletion/insertion (both orders), the sanity check and stability;
rows go to the report's atomic Parquet parts (``QualityStore``), so a killed run resumes where it
stopped and shards (``--shard i/n``) can share one folder.
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..report.config import dataset_hash
from ..report.loading import data_loader, view_function
from ..report.pipeline import RunOptions, write_rows
from ..types import ImageBatch
from ._targets import fix_target
from .baselines import baseline_maps
from .curves import run_curves
from .store import BASELINE_PREFIX, QualityConfig, QualityStore, bind_json, explainer_folder

BASELINES = ("smooth-random", "centre-bias")


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
class QualityOptions(RunOptions):
    forward_batch: int = 64      # perturbed copies per forward pass
    part_size: int = 16          # images per Parquet part (the unit of resume)
    blur_sigma: float = 5.0
    memory_format: str = "auto"  # layout of the perturbed copies (float rounding only)


def read_samples(data: str | Path | None, images: Sequence[str] | None):
    """Dataset samples from a CSV/folder, or from image paths (ground truth unknown: NaN)."""
    from types import SimpleNamespace

    if data is not None:
        from ..io.datasets import read_dataset

        samples = read_dataset(data)
        return samples, dataset_hash(samples, Path(data) if Path(data).is_dir() else Path(data).parent)
    from ..cli._common import unique_stems
    from ..io.images import list_images

    paths = list_images(list(images or []))
    if not paths:
        raise ValueError("no images given: pass image files/folders or --data CSV")
    ids = unique_stems(paths, "~")
    samples = [SimpleNamespace(id=i, image=p, lat=float("nan"), lon=float("nan")) for i, p in zip(ids, paths)]
    return samples, dataset_hash(samples, Path.cwd())


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

    def process(self, records: list[dict]) -> tuple[list[dict], list[dict]]:
        shard = f"{self.options.shard[0]}/{self.options.shard[1]}"
        base = [{"image_id": r["image_id"], "path": r["path"], "lat": r["lat"], "lon": r["lon"], "shard": shard}
                for r in records]
        rows = [dict(b, status="failed", error=r.get("error") or "no pixels")
                for b, r in zip(base, records) if r.get("error") is not None or r.get("pixels") is None]
        good = [(b, r) for b, r in zip(base, records) if r.get("error") is None and r.get("pixels") is not None]
        if not good:
            return rows, []
        image_rows, curve_rows = self._compute([b for b, _ in good], [r for _, r in good])
        return rows + image_rows, curve_rows

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
            torch.manual_seed(cfg.seed)
            maps = fixed.explain(self.explainer, model, batch)
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
                                  seed=cfg.seed, maps=maps)
            for b, row in enumerate(rows):
                row["sanity"] = json.dumps({"stages": result.stages, "spearman": result.spearman[:, b].tolist(),
                                            "ssim": result.ssim[:, b].tolist()})
        if self.stochastic and len(cfg.stability_seeds) >= 2:
            result = stability(model, self.explainer, batch, seeds=cfg.stability_seeds, target=fixed.target,
                               k=cfg.k, segmenter=self.segmenter, ci_k=cfg.k)
            diff = result.ci_abs_difference() / np.nanmean(result.ci, axis=0) if result.ci is not None else None
            for b, row in enumerate(rows):
                row["stability_spearman"] = float(np.nanmean(result.spearman[:, b]))
                row["stability_topk"] = float(np.nanmean(result.topk[:, b]))
                row["stability_ci_difference"] = _nanmean(diff[b]) if diff is not None else None
        return rows, curve_rows


def _float(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _nanmean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def quality_report_config(config: QualityConfig):
    """The report config of the quality run's model (what the report's model loaders take)."""
    from ..report.config import ReportConfig

    return ReportConfig(model=config.model, explainer="", segmenter="", model_options=config.model_options,
                        weights=config.weights)


def build_quality_model(config: QualityConfig):
    """The quality run's model with its options and weights, as its plugin builds it."""
    from ..report.worker import load_report_model

    return load_report_model(quality_report_config(config))


ENGINES = ("local", "ray")


def run_quality(model_name: str, explainers: Sequence[ExplainerSpec], out: str | Path, data=None, images=None,
                config: QualityConfig | None = None, options: QualityOptions | None = None, baselines: bool = True,
                model=None, segmenter=None, max_images: int | None = None) -> Path:
    """Compute (or resume) the quality measures of ``explainers`` into ``out``; then write the
    summary, plots and HTML page. ``model`` (and ``segmenter``) skip building them from the
    registry (local engine only); ``max_images`` keeps the first images of the dataset only.

    Everything that can refuse the run (the images, an unknown engine, model, explainer or
    option) does so before the folder is bound."""
    from ..plugins import load_explainer, registry
    from .outputs import finalize

    out = Path(out)
    options = options or QualityOptions()
    config = config or QualityConfig(model=model_name)
    if options.engine not in ENGINES:
        raise ValueError(f"--engine {options.engine}: geoxai quality runs on {' or '.join(ENGINES)}")
    local = options.engine == "local"
    if not local and (model is not None or segmenter is not None):
        raise ValueError(f"--engine {options.engine} builds a model replica per actor; pass names, not objects")
    samples, config.data_hash = read_samples(data, images)
    if max_images is not None:
        samples = samples[: max(0, int(max_images))]
    for spec in explainers:  # unknown names and options fail here, also when the actors build them
        load_explainer(spec.name, **spec.options)
    if local:
        model = model if model is not None else build_quality_model(config)
        if segmenter is None and config.segmenter:
            from ..plugins import load_segmenter

            segmenter = load_segmenter(config.segmenter)
    else:  # the actors build the model: check its name and options against its plugin now
        from ..options import check_options
        from ..report.worker import report_model_options

        entry = registry().get("model", config.model)
        check_options(entry.label, entry.options(), report_model_options(quality_report_config(config)))
        if config.segmenter:
            registry().get("segmenter", config.segmenter)
    bind_json(out / "config.json", config.fingerprint(), "a quality report")
    if local:
        device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = model.to(device).eval()
        if options.threads:
            torch.set_num_threads(options.threads)
    specs = list(explainers) + ([ExplainerSpec(BASELINE_PREFIX + b) for b in BASELINES] if baselines else [])
    index, count = options.shard
    mine = [s for i, s in enumerate(samples) if i % count == index]
    for spec in specs:
        store = QualityStore(out / spec.folder)
        bind_json(out / spec.folder / "explainer.json", asdict(spec), f"explainer {spec.name}")
        store.prepare()
        if options.retry_failed:
            store.forget_failed({s.id for s in mine})
        done = store.finished_ids()
        pending = [s for s in mine if s.id not in done]
        if not pending:
            continue
        if local:
            worker = QualityWorker(model, config, spec, options, segmenter)
            loader = data_loader(pending, view_function(model), options.batch_size, options.workers)
            write_rows(store, options, len(pending), (worker.process(records) for records in loader),
                       desc=f"quality {spec.folder}")
        else:
            from .ray_engine import run_quality_ray

            run_quality_ray(config, spec, pending, store, options)
        store.write_manifest()
    finalize(out)
    return out
