"""``JobKind``: what one kind of dataset job computes per image. The framework (plan, engines,
parts, progress, lock) is the same for every kind; ``report`` and ``quality`` are two kinds."""
from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .models import ModelSpec
    from .store import PartStore

#: called by a worker once per image whose rows are done
OnImage = Callable[[], None]


class JobWorker(Protocol):
    """What a kind builds once per model replica (in this process or on a Ray actor)."""

    model: Any

    def process(self, records: list[dict], on_image: OnImage | None = None) -> tuple[list[dict], list[dict]]:
        """Decoded records (``geoxai.jobs.loading.decode``) -> (one image row per record,
        detail rows); ``on_image()`` once per image as soon as its rows are done."""


@dataclass
class JobOptions:
    """How a job runs (never what it computes: these may change between a run and its resume)."""

    batch_size: int = 16
    workers: int = 2
    shard: tuple[int, int] = (0, 1)
    engine: str = "local"
    part_size: int = 256
    progress: bool = True
    device: str | None = None
    ray_address: str | None = None
    threads: int | None = None        # torch intra-op threads for the compute stage
    replicas: int | None = None       # Ray: model replicas (default: one per GPU, else CPUs // 2)
    retry_failed: bool = False        # compute images again that failed in an earlier run


class JobKind(abc.ABC):
    """One table of work over a dataset: its configuration (the instance; picklable, since the
    Ray engine ships it to its actors), its rows (``store_class``: the two Parquet schemas) and
    its worker factory. ``label`` names it in the progress line."""

    store_class: type[PartStore]
    #: decode the model's test-time views beside the explained one
    test_time: bool = False

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """How the progress line names this job (``report``, ``quality gradcam``)."""

    @property
    @abc.abstractmethod
    def model_spec(self) -> ModelSpec:
        """The model the worker runs (the Ray driver reads its view from it, building nothing)."""

    @abc.abstractmethod
    def build_worker(self, options: JobOptions, components: Any = None, keeper: Any = None) -> JobWorker:
        """The worker of one model replica; ``components`` are objects the caller already built
        (in-process engines only); ``keeper`` receives per-image extras (``keeper``)."""

    def rows(self, worker: JobWorker, records: list[dict], on_image: OnImage | None = None
             ) -> tuple[list[dict], list[dict], dict[str, bytes]]:
        """(image rows, detail rows, extra data by image id) of a batch of records."""
        image_rows, detail_rows = worker.process(records, on_image=on_image)
        return image_rows, detail_rows, {}

    def keeper(self, store: PartStore, options: JobOptions) -> Any:
        """What keeps per-image extras in this process (``offer(row, data)``); None: no extras."""
        return None

    def remote_keeper(self, options: JobOptions) -> Any:
        """The in-memory keeper of a worker in another process (a Ray actor)."""
        return None
