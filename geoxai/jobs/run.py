"""The driver every job kind shares: plan the open work of a job folder (resume,
``--retry-failed``, shards), run it on an engine, write the rows as atomic parts."""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..io.images import storable_name
from ..progress import Progress
from .engines import JobEngine
from .kind import JobKind, JobOptions
from .store import PartStore

FLUSH_SECONDS = 120.0


def my_share(samples: Sequence[Any], shard: tuple[int, int]) -> list[Any]:
    """The samples of shard ``(i, n)``: those at positions ``p % n == i``."""
    index, count = shard
    return [s for p, s in enumerate(samples) if p % count == index]


def storable_samples(samples: Sequence[Any]) -> list[Any]:
    """Samples whose id is not UTF-8 (a non-UTF-8 file name) get an escaped id (``\\xff``), so
    their row, a failed one naming the file, can be stored, and every other row is kept."""
    out = []
    for s in samples:
        sid = storable_name(s.id)
        out.append(s if sid == s.id else replace(s, id=sid))
    return out


def open_work(store: PartStore, mine: Sequence[Any], retry_failed: bool = False) -> list[Any]:
    """Prepare ``store`` (clear a killed run's leftovers, repair duplicates) and return the
    samples of ``mine`` without a row (with ``retry_failed``, their failed rows go first)."""
    from .stamps import forget_changed_images

    store.prepare()
    if retry_failed:
        store.forget_failed({s.id for s in mine})
    forget_changed_images(store, mine)  # an image file changed in place: its rows go, it is computed again
    done = store.finished_ids()
    return [s for s in mine if s.id not in done]


def run_job(job: JobKind, store: PartStore, mine: Sequence[Any], options: JobOptions, engine: JobEngine,
            components: Any = None) -> int:
    """Compute (or resume) ``job`` over this shard's samples ``mine`` into ``store``; returns how
    many images were computed now. The caller holds the folder's lock."""
    pending = open_work(store, mine, options.retry_failed)
    written = engine.run(job, pending, store, options, components=components) if pending else 0
    store.write_manifest()
    return written


def shard_tag(shard: tuple[int, int]) -> str:
    return f"s{shard[0]}of{shard[1]}-"


class PartWriter:
    """Collects rows and writes them as parts from a background thread (one write in flight)."""

    def __init__(self, store: PartStore, part_size: int, tag: str) -> None:
        self.store, self.part_size, self.tag = store, max(1, part_size), tag
        self.images: list[dict] = []
        self.details: list[dict] = []
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoxai-parts")
        self.pending: Future | None = None
        self.last_flush = time.monotonic()

    def add(self, image_rows: list[dict], detail_rows: list[dict]) -> None:
        self.images.extend(image_rows)
        self.details.extend(detail_rows)
        if len(self.images) >= self.part_size or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.images:
            return
        self.wait()
        images, details, self.images, self.details = self.images, self.details, [], []
        self.pending = self.pool.submit(self.store.write_part, images, details, self.tag)
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


def write_rows(store: PartStore, options: JobOptions, batches: Iterable[tuple[list[dict], list[dict], dict]],
               progress: Progress, keeper: Any = None) -> int:
    """Write (image rows, detail rows, extra data by id) batches as atomic parts; any engine's
    results end here, so every engine resumes the same way. Extra data goes to ``keeper`` first,
    so it is on disk before its image's part is committed. ``progress`` is advanced to the images
    written (an engine whose workers report each image advances it earlier). Returns the number
    of images written."""
    writer = PartWriter(store, options.part_size, shard_tag(options.shard))
    written = 0
    with progress:
        try:
            for image_rows, detail_rows, extras in batches:
                if keeper is not None:
                    for row in image_rows:
                        keeper.offer(row, extras.get(row["image_id"]))
                writer.add(image_rows, detail_rows)
                written += len(image_rows)
                if progress.done < written:
                    progress.advance(written - progress.done)
        finally:
            writer.close()  # commit what was computed, on Ctrl-C too
    return written


def job_progress(job: JobKind, pending: Sequence[Any], options: JobOptions) -> Progress:
    return Progress(len(pending), job.label, enabled=options.progress)
