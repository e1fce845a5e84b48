"""``run_quality``: the measures over a dataset into an output folder, as jobs of the job
framework (``geoxai.jobs``): one ``QualityJob`` per explainer (and baseline map), each with its
own folder of atomic Parquet parts (``QualityStore``), so a killed run resumes where it stopped,
shards (``--shard i/n``) share one folder, and any registered engine (local, Ray, a plugin's)
computes the rows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..jobs.kind import JobKind, JobOptions
from ..jobs.run import my_share, run_job
from ..report.config import dataset_hash
from .store import BASELINE_PREFIX, QualityConfig, QualityStore, bind_json
from .worker import ExplainerSpec, QualityOptions, QualityWorker, quality_model_spec

BASELINES = ("smooth-random", "centre-bias")
__all__ = ["ExplainerSpec", "QualityJob", "QualityOptions", "read_samples", "run_quality"]


def read_samples(data: str | Path | None, images: Sequence[str] | None):
    """Dataset samples from a CSV/folder, or from image paths (ground truth unknown: NaN)."""
    from types import SimpleNamespace

    if data is not None:
        from ..io.datasets import read_dataset

        samples = read_dataset(data)
        return samples, dataset_hash(samples, Path(data) if Path(data).is_dir() else Path(data).parent)
    from ..io.images import list_images
    from ..naming import unique_stems

    paths = list_images(list(images or []))
    if not paths:
        raise ValueError("no images given: pass image files/folders or --data CSV")
    ids = unique_stems(paths, "~")
    samples = [SimpleNamespace(id=i, image=p, lat=float("nan"), lon=float("nan")) for i, p in zip(ids, paths)]
    return samples, dataset_hash(samples, Path.cwd())


@dataclass
class QualityJob(JobKind):
    """The quality rows of one explainer (or baseline map) under one configuration."""

    config: QualityConfig
    spec: ExplainerSpec
    store_class = QualityStore

    @property
    def label(self) -> str:
        return f"quality {self.spec.folder}"

    @property
    def model_spec(self):
        return quality_model_spec(self.config)

    def build_worker(self, options: JobOptions, components: Any = None, keeper: Any = None) -> QualityWorker:
        """``components``: (model, segmenter) already built, else both are built here."""
        import torch

        from ..plugins import load_segmenter

        model, segmenter = components if components is not None else (None, None)
        model = model if model is not None else self.model_spec.build()
        if segmenter is None and self.config.segmenter:
            segmenter = load_segmenter(self.config.segmenter)
        device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        assert isinstance(options, QualityOptions)
        return QualityWorker(model.to(device).eval(), self.config, self.spec, options, segmenter)


def run_quality(model_name: str, explainers: Sequence[ExplainerSpec], out: str | Path, data=None, images=None,
                config: QualityConfig | None = None, options: QualityOptions | None = None, baselines: bool = True,
                model=None, segmenter=None, max_images: int | None = None) -> Path:
    """Compute (or resume) the quality measures of ``explainers`` into ``out``; then write the
    summary, plots and HTML page. ``model`` (and ``segmenter``) skip building them from the
    registry (local engine only); ``max_images`` keeps the first images of the dataset only.

    Everything that can refuse the run (the images, an unknown engine, model, explainer or
    option) does so before the folder is bound, and a folder another run holds is refused first."""
    from ..jobs.lock import FolderLock

    out = Path(out)
    with FolderLock(out, "quality").acquire_if_exists() as lock:
        return _run_quality(model_name, explainers, out, lock, data, images, config, options, baselines, model,
                            segmenter, max_images)


def _run_quality(model_name, explainers, out: Path, lock, data, images, config, options, baselines, model,
                 segmenter, max_images) -> Path:
    from ..plugins import load_engine, load_explainer, registry
    from .outputs import finalize

    options = options or QualityOptions()
    config = config or QualityConfig(model=model_name)
    engine = load_engine(options.engine)  # an unknown engine fails before the folder is bound
    local = options.engine == "local"
    if not local and (model is not None or segmenter is not None):
        raise ValueError(f"--engine {options.engine} builds a model replica per actor; pass names, not objects")
    samples, config.data_hash = read_samples(data, images)
    if max_images is not None:
        samples = samples[: max(0, int(max_images))]
    for spec in explainers:  # unknown names and options fail here, also when the actors build them
        load_explainer(spec.name, **spec.options)
    if local:  # built once, for every explainer's job (an unknown name or option fails here)
        if model is None:
            from ..progress import say

            say("quality", f"loading model {config.model!r} (and its weights)", options.progress)
            model = quality_model_spec(config).build()
        if segmenter is None and config.segmenter:
            from ..plugins import load_segmenter

            segmenter = load_segmenter(config.segmenter)
    else:  # the actors build the model: check its name and options against its plugin now
        quality_model_spec(config).check()
        if config.segmenter:
            registry().get("segmenter", config.segmenter)
    lock.acquire()  # a new folder is made (and locked) only for a run that was checked
    bind_json(out / "config.json", config.fingerprint(), "a quality report")
    specs = list(explainers) + ([ExplainerSpec(BASELINE_PREFIX + b) for b in BASELINES] if baselines else [])
    mine = my_share(samples, options.shard)
    for spec in specs:
        bind_json(out / spec.folder / "explainer.json", asdict(spec), f"explainer {spec.name}")
        run_job(QualityJob(config, spec), QualityStore(out / spec.folder), mine, options, engine,
                components=(model, segmenter) if local else None)
    finalize(out)
    return out
