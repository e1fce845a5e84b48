"""The ``local`` engine: decode (DataLoader worker processes) -> the kind's worker in batches
(this process) -> Parquet parts (a writer thread). Each stage overlaps the others; memory stays
bounded by the prefetch depth, the open part and one pending write, however many images there are.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .engines import JobEngine
from .kind import JobKind, JobOptions
from .run import job_progress, write_rows
from .store import PartStore


class LocalEngine(JobEngine):
    """The job in this process."""

    name = "local"

    def run(self, job: JobKind, pending: Sequence[Any], store: PartStore, options: JobOptions,
            components: Any = None) -> int:
        import torch

        from .loading import data_loader, test_time_function, view_function

        if not pending:
            return 0
        progress = job_progress(job, pending, options)
        if options.threads:
            torch.set_num_threads(options.threads)
        keeper = job.keeper(store, options)
        if components is None:
            progress.status(f"loading model {job.model_spec.name!r} (and its weights)")
        worker = job.build_worker(options, components=components, keeper=keeper)
        model = worker.model
        test_time = test_time_function(model) if job.test_time else None
        if options.workers:
            progress.status(f"starting {options.workers} decoding worker processes")
        loader = iter(data_loader(pending, view_function(model), options.batch_size, options.workers,
                                  test_time=test_time))
        try:
            batches = (job.rows(worker, records, on_image=progress.advance) for records in loader)
            return write_rows(store, options, batches, progress, keeper=keeper)
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
