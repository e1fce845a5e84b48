"""``run_report``: the streaming report pipeline (local engine) and what local and Ray share.

decode (DataLoader worker processes) -> model/explainer/segmenter in batches (this process) ->
Parquet parts (a writer thread). Each stage overlaps the others; memory stays bounded by the
prefetch depth, the open part and one pending write, however many images there are.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..io.images import display_path, storable_name
from ..views import TEST_TIME
from .config import ReportConfig, bind_config, check_config, dataset_hash
from .engines import ReportEngine
from .image_stamps import forget_changed_images
from .loading import data_loader, test_time_function, view_function
from .store import PartStore

DEFAULT_PART_SIZE = 256
FLUSH_SECONDS = 120.0


@dataclass
class RunOptions:
    batch_size: int = 16
    workers: int = 2
    shard: tuple[int, int] = (0, 1)
    engine: str = "local"
    part_size: int = DEFAULT_PART_SIZE
    progress: bool = True
    device: str | None = None
    ray_address: str | None = None
    threads: int | None = None        # torch intra-op threads for the compute stage
    replicas: int | None = None       # Ray: model replicas (default: one per GPU, else CPUs // 2)
    retry_failed: bool = False        # compute images again that failed in an earlier run
    examples: int = 0                 # keep the figure data of this many example candidates per split
    radius_km: float = 750.0          # the split of the examples (correct: GCD <= radius)


def plan(config: ReportConfig, data: str | Path, out: str | Path, shard: tuple[int, int],
         retry_failed: bool = False, validate: Callable[[], Any] | None = None):
    """Read the dataset, bind the output folder to the config, and list this shard's open work
    (with ``retry_failed``, the shard's failed images count as open again).

    Everything that can refuse the run happens before the folder is bound: the dataset, a
    folder of another configuration, and ``validate`` (building the components), which runs
    when the folder is new, so a refused run leaves no ``config.json`` that refuses the corrected
    one."""
    from ..io.datasets import read_dataset

    data = Path(data)
    samples = storable_samples(read_dataset(data))
    if not samples:
        raise ValueError(f"{display_path(data)}: no images found in the dataset")
    config.data = str(data)
    config.data_hash = dataset_hash(samples, data if data.is_dir() else data.parent)
    out = Path(out)
    if not check_config(out, config) and validate is not None:
        validate()
    bind_config(out, config)
    store = PartStore(out)
    store.prepare()
    index, count = shard
    mine = [s for i, s in enumerate(samples) if i % count == index]
    if retry_failed:
        store.forget_failed({s.id for s in mine})
    forget_changed_images(store, mine)
    done = store.finished_ids()
    return store, [s for s in mine if s.id not in done], len(mine)


class PartWriter:
    """Collects rows and writes them as parts from a background thread (one write in flight)."""

    def __init__(self, store: PartStore, part_size: int, tag: str) -> None:
        self.store, self.part_size, self.tag = store, max(1, part_size), tag
        self.images: list[dict] = []
        self.concepts: list[dict] = []
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoxai-parts")
        self.pending: Future | None = None
        self.last_flush = time.monotonic()

    def add(self, image_rows: list[dict], concept_rows: list[dict]) -> None:
        self.images.extend(image_rows)
        self.concepts.extend(concept_rows)
        if len(self.images) >= self.part_size or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.images:
            return
        self.wait()
        images, concepts, self.images, self.concepts = self.images, self.concepts, [], []
        self.pending = self.pool.submit(self.store.write_part, images, concepts, self.tag)
        self.last_flush = time.monotonic()

    def wait(self) -> None:
        if self.pending is not None:
            self.pending.result()  # re-raises a failed write here, in the main thread
            self.pending = None

    def close(self) -> None:
        try:
            self.flush()
            self.wait()
        finally:
            self.pool.shutdown(wait=True)


def storable_samples(samples: Sequence[Any]) -> list[Any]:
    """Samples whose id is not UTF-8 (a non-UTF-8 file name) get an escaped id (``\\xff``), so
    their row, a failed one naming the file, can be stored, and every other row is kept."""
    from dataclasses import replace

    out = []
    for s in samples:
        sid = storable_name(s.id)
        out.append(s if sid == s.id else replace(s, id=sid))
    return out


def shard_tag(shard: tuple[int, int]) -> str:
    return f"s{shard[0]}of{shard[1]}-"


def run_local(config: ReportConfig, pending: Sequence[Any], store: PartStore, options: RunOptions,
              components=None) -> int:
    """Process ``pending`` samples in this process; returns how many images were written."""
    from .worker import ReportWorker

    if not pending:
        return 0
    shard = f"{options.shard[0]}/{options.shard[1]}"
    if options.threads:
        torch.set_num_threads(options.threads)
    worker = ReportWorker(config, shard=shard, device=options.device, components=components)
    keeper = example_keeper(store, options)
    worker.example_filter = keeper
    model = worker.model
    test_time = test_time_function(model) if config.views == TEST_TIME else None
    loader = iter(data_loader(pending, view_function(model), options.batch_size, options.workers, test_time=test_time))
    try:
        batches = ((*worker.process(records), worker.take_examples()) for records in loader)
        return write_rows(store, options, len(pending), batches, keeper=keeper)
    except KeyboardInterrupt:
        # Ctrl-C: the decoding workers ignore SIGINT and hold nothing worth keeping (decoded
        # views only); end them now rather than wait out torch's worker-join timeout.
        for process in getattr(loader, "_workers", []):
            if process.is_alive():
                process.terminate()
        raise
    finally:
        # stop the workers now, not when the traceback is freed at interpreter exit
        shutdown = getattr(loader, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


class LocalEngine(ReportEngine):
    """The report in this process (``run_local``)."""

    name = "local"

    def run(self, config: ReportConfig, pending: Sequence[Any], store: PartStore, options: RunOptions,
            components=None) -> int:
        return run_local(config, pending, store, options, components=components)


def example_keeper(store: PartStore, options: RunOptions):
    """The keeper of the example figures' data (None without ``--examples``)."""
    from .examples import ExampleKeeper

    return ExampleKeeper(store.out, options.examples, options.radius_km) if options.examples > 0 else None


def write_rows(store: PartStore, options: RunOptions, total: int, batches, keeper=None,
               desc: str = "report") -> int:
    """Write (image rows, concept rows[, example data by id]) batches as atomic parts, with a
    progress bar; any engine's results end here, so every engine resumes the same way. Example
    data goes to ``keeper`` first, so it is on disk before its image's part is committed.
    Returns the number of images written."""
    writer = PartWriter(store, options.part_size, shard_tag(options.shard))
    written = 0
    with progress_bar(total, options.progress, desc) as bar:
        try:
            for image_rows, concept_rows, *extra in batches:
                if keeper is not None and extra:
                    for row in image_rows:
                        keeper.offer(row, extra[0].get(row["image_id"]))
                writer.add(image_rows, concept_rows)
                written += len(image_rows)
                bar.update(len(image_rows))
        finally:
            writer.close()  # commit what was computed, on Ctrl-C too
    return written


def progress_bar(total: int, enabled: bool, desc: str = "report"):
    return tqdm(total=total, unit="img", desc=desc, disable=not enabled, dynamic_ncols=True,
                smoothing=0.1)


def check_names(config: ReportConfig) -> None:
    """Fail with the registry's one-line error if a model, explainer or segmenter is unknown or
    given an option it does not declare (or of the wrong type), without building the model or
    segmenter (an engine that builds them elsewhere calls this before binding the folder). The
    explainer, cheap to build, is built, so its own value checks run too."""
    from ..options import check_options
    from ..plugins import load_explainer, registry
    from .worker import report_model_options

    for kind, name, options in (("model", config.model, report_model_options(config)),
                                ("explainer", config.explainer, config.explainer_options),
                                ("segmenter", config.segmenter, config.segmenter_options)):
        entry = registry().get(kind, name)
        check_options(entry.label, entry.options(), options)
    load_explainer(config.explainer, **config.explainer_options)


def run_report(config: ReportConfig, data: str | Path, out: str | Path, options: RunOptions | None = None,
               radius_km: float = 750.0, min_images: int = 100, examples: int = 0, components=None):
    """Compute (or resume) a report in ``out`` and write its summary, plots and HTML.

    Returns the ``ReportSummary``. ``components`` (model, explainer, segmenter) skips building them
    from the registry, for callers that already hold them (local engine only).
    """
    from ..plugins import load_engine
    from .outputs import finalize

    options = replace(options or RunOptions(), examples=examples, radius_km=radius_km)
    engine = load_engine(options.engine)  # an unknown engine fails before the folder is bound
    built = {}

    def validate() -> None:
        # local: build what the run needs anyway (an unknown name or option fails here);
        # other engines build their replicas elsewhere, so check names and options only
        if options.engine == "local" and components is None:
            from .worker import load_components

            built["components"] = load_components(config, options.device)
        else:
            check_names(config)

    store, pending, total = plan(config, data, out, options.shard, options.retry_failed, validate=validate)
    components = components or built.get("components")
    engine.run(config, pending, store, options, components=components)
    store.write_manifest()
    return finalize(Path(out), radius_km=radius_km, min_images=min_images, examples=examples,
                    components=components, device=options.device)
