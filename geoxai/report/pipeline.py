"""``run_report``: the report as a job kind (``ReportJob``) on the job framework (``geoxai.jobs``):
the folder is locked, bound to the configuration, its open images computed on an engine (local or
Ray, or a plugin's) and written as atomic parts; then the summary, plots and HTML are written.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..io.images import display_path
from ..jobs.kind import JobKind, JobOptions
from ..jobs.run import my_share, open_work, run_job, storable_samples
from ..views import TEST_TIME
from .config import ReportConfig, bind_config, check_config, dataset_hash
from .store import PartStore

DEFAULT_PART_SIZE = 256


@dataclass
class RunOptions(JobOptions):
    examples: int = 0                 # keep the figure data of this many example candidates per split
    radius_km: float = 750.0          # the split of the examples (correct: GCD <= radius)


@dataclass
class ReportJob(JobKind):
    """The report's rows for one configuration (``ReportWorker`` computes them)."""

    config: ReportConfig
    store_class = PartStore

    @property
    def label(self) -> str:
        return "report"

    @property
    def test_time(self) -> bool:  # type: ignore[override]
        return self.config.views == TEST_TIME

    @property
    def model_spec(self):
        from .worker import report_model_spec

        return report_model_spec(self.config)

    def build_worker(self, options: JobOptions, components: Any = None, keeper: Any = None):
        from .worker import ReportWorker

        worker = ReportWorker(self.config, shard=f"{options.shard[0]}/{options.shard[1]}", device=options.device,
                              components=components)
        worker.example_filter = keeper
        return worker

    def rows(self, worker, records, on_image=None):
        image_rows, concept_rows = worker.process(records, on_image=on_image)
        return image_rows, concept_rows, worker.take_examples()

    def keeper(self, store, options):
        """The keeper of the example figures' data (None without ``--examples``)."""
        from .examples import ExampleKeeper

        examples = getattr(options, "examples", 0)
        return ExampleKeeper(store.out, examples, options.radius_km) if examples > 0 else None

    def remote_keeper(self, options):
        """An actor ships the figure data of its own example candidates only."""
        from .examples import ExampleKeeper

        examples = getattr(options, "examples", 0)
        return ExampleKeeper(None, examples, options.radius_km) if examples > 0 else None


def read_report_samples(config: ReportConfig, data: str | Path) -> list[Any]:
    """The dataset's samples; sets the config's ``data`` and ``data_hash``."""
    from ..io.datasets import read_dataset

    data = Path(data)
    samples = storable_samples(read_dataset(data))
    if not samples:
        raise ValueError(f"{display_path(data)}: no images found in the dataset")
    config.data = str(data)
    config.data_hash = dataset_hash(samples, data if data.is_dir() else data.parent)
    return samples


def plan(config: ReportConfig, data: str | Path, out: str | Path, shard: tuple[int, int],
         retry_failed: bool = False, validate: Callable[[], Any] | None = None, lock=None):
    """Read the dataset, bind the output folder to the config, and list this shard's open work
    (with ``retry_failed``, the shard's failed images count as open again): (store, pending,
    the shard's image count).

    Everything that can refuse the run happens before the folder is bound: the dataset, a
    folder of another configuration, and ``validate`` (building the components), which runs
    when the folder is new, so a refused run leaves no ``config.json`` that refuses the corrected
    one."""
    store, samples = bind_report(config, data, out, validate, lock)
    mine = my_share(samples, shard)
    return store, open_work(store, mine, retry_failed), len(mine)


def bind_report(config: ReportConfig, data: str | Path, out: str | Path, validate: Callable[[], Any] | None = None,
                lock=None) -> tuple[PartStore, list[Any]]:
    """Read the dataset, then bind ``out`` to the config (``validate`` first when it is new, and
    ``lock.acquire()`` right before binding); returns the folder's store and the samples."""
    samples = read_report_samples(config, data)
    out = Path(out)
    if not check_config(out, config) and validate is not None:
        validate()
    if lock is not None:
        lock.acquire()  # a new folder is made (and locked) only for a run that was checked
    bind_config(out, config)
    return PartStore(out), samples


def run_local(config: ReportConfig, pending: Sequence[Any], store: PartStore, options: RunOptions,
              components=None) -> int:
    """Compute the rows of ``pending`` in this process (the ``local`` engine); returns how many
    images were written."""
    from ..jobs.local import LocalEngine

    return LocalEngine().run(ReportJob(config), pending, store, options, components=components)


def check_names(config: ReportConfig) -> None:
    """Fail with the registry's one-line error if a model, explainer or segmenter is unknown or
    given an option it does not declare (or of the wrong type), without building the model or
    segmenter (an engine that builds them elsewhere calls this before binding the folder). The
    explainer, cheap to build, is built, so its own value checks run too."""
    from ..blackbox import Geolocator
    from ..options import check_options
    from ..pipeline import check_blackbox_pairing
    from ..plugins import load_explainer, registry
    from .worker import report_model_spec

    report_model_spec(config).check()
    for kind, name, options in (("explainer", config.explainer, config.explainer_options),
                                ("segmenter", config.segmenter, config.segmenter_options)):
        entry = registry().get(kind, name)
        check_options(entry.label, entry.options(), options)
    explainer = load_explainer(config.explainer, **config.explainer_options)
    factory = registry().get("model", config.model).resolve_factory()
    if isinstance(factory, type) and issubclass(factory, Geolocator):  # a black box: no gradients to explain
        check_blackbox_pairing(config.model, explainer)


def run_report(config: ReportConfig, data: str | Path, out: str | Path, options: RunOptions | None = None,
               radius_km: float = 750.0, min_images: int = 100, examples: int = 0, components=None,
               quality_images: int | None = None):
    """Compute (or resume) a report in ``out`` and write its summary, plots and HTML.

    Returns the ``ReportSummary``. ``components`` (model, explainer, segmenter) skip building them
    from the registry, for callers that already hold them (local engine only). ``quality_images``
    adds the explainer's quality section, measured on that many images (``report --quality``).
    """
    from ..jobs.lock import FolderLock
    from ..plugins import load_engine
    from .outputs import finalize

    options = replace(options or RunOptions(), examples=examples, radius_km=radius_km)
    engine = load_engine(options.engine)  # an unknown engine fails before the folder is bound
    built = {}

    def validate() -> None:
        # local: build what the run needs anyway (an unknown name or option fails here);
        # other engines build their replicas elsewhere, so check names and options only
        if options.engine == "local" and components is None:
            from ..progress import say
            from .worker import load_components

            say("report", f"loading model {config.model!r} (and its weights), explainer {config.explainer!r} and "
                          f"segmenter {config.segmenter!r}", options.progress)
            built["components"] = load_components(config, options.device)
        else:
            check_names(config)

    out = Path(out)
    with FolderLock(out, "report").acquire_if_exists() as lock:
        store, samples = bind_report(config, data, out, validate, lock)
        components = components or built.get("components")
        run_job(ReportJob(config), store, my_share(samples, options.shard), options, engine, components)
        sections = []
        if quality_images:
            from ..quality.report_section import quality_section

            sections.append(quality_section(out, config, data, options, quality_images, components))
        return finalize(out, radius_km=radius_km, min_images=min_images, examples=examples,
                        components=components, device=options.device, sections=sections)
