"""``run_quality``: the measures over a dataset into an output folder, resumable and shardable.

For each explainer (and each baseline map) the shard's open images are decoded in batches, maps
computed once per batch, then deletion/insertion (both orders), the sanity check and stability;
rows go to the report's atomic Parquet parts (``QualityStore``), so a killed run resumes where it
stopped and shards (``--shard i/n``) can share one folder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from ..report.config import dataset_hash
from ..report.loading import data_loader, view_function
from ..report.pipeline import write_rows
from .store import BASELINE_PREFIX, QualityConfig, QualityStore, bind_json
from .worker import ExplainerSpec, QualityOptions, QualityWorker, build_quality_model, quality_report_config

BASELINES = ("smooth-random", "centre-bias")


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


ENGINES = ("local", "ray")


def run_quality(model_name: str, explainers: Sequence[ExplainerSpec], out: str | Path, data=None, images=None,
                config: QualityConfig | None = None, options: QualityOptions | None = None, baselines: bool = True,
                model=None, segmenter=None, max_images: int | None = None) -> Path:
    """Compute (or resume) the quality measures of ``explainers`` into ``out``; then write the
    summary, plots and HTML page. ``model`` (and ``segmenter``) skip building them from the
    registry (local engine only); ``max_images`` keeps the first images of the dataset only.

    Everything that can refuse the run (the images, an unknown engine, model, explainer or
    option) does so before the folder is bound."""
    from ..jobs.lock import FolderLock

    out = Path(out)
    with FolderLock(out, "quality").acquire_if_exists() as lock:
        return _run_quality(model_name, explainers, out, lock, data, images, config, options, baselines, model,
                            segmenter, max_images)


def _run_quality(model_name, explainers, out: Path, lock, data, images, config, options, baselines, model,
                 segmenter, max_images) -> Path:
    from ..plugins import load_explainer, registry
    from .outputs import finalize

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
    lock.acquire()  # a new folder is made (and locked) only for a run that was checked
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
