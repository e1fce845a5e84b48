"""The ``ray`` engine: any job kind on a Ray cluster with Ray Data.

decode (stateless tasks, CPU) -> ``RayJobWorker`` actors (one model replica each, built by the
kind's ``build_worker``, a GPU each when the cluster has GPUs) -> this driver, which writes the
same Parquet parts as the local engine, so resume, sharding and merge work unchanged. Rows travel
back as JSON text: exact for floats (``repr`` round-trips), and free of Arrow's trouble with
None-heavy mixed columns. Progress advances as batches come back (the actors run elsewhere).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..views import ViewConfig
from .engines import JobEngine
from .kind import JobKind, JobOptions
from .loading import decode
from .run import job_progress, write_rows
from .store import PartStore


def decode_batch(batch: dict[str, np.ndarray], view: ViewConfig, test_time: bool = False,
                  model=None) -> dict[str, np.ndarray]:
    """Ray Data task: paths -> uint8 views [B, 3, S, S] (zeros where decoding failed) + errors;
    with ``test_time`` also the test-time views [B, n, 3, S, S]. With ``model`` (a model whose
    view is code of its own), its ``view``/``test_time_views`` do the work."""
    from types import SimpleNamespace

    from .loading import test_time_function, view_function

    view_fn = view_function(model) if model is not None else view
    test_time_fn = (test_time_function(model) if model is not None else view.test_time_views) if test_time else None
    records = [decode(SimpleNamespace(id=i, image=p, lat=la, lon=lo), view_fn, test_time_fn)
               for i, p, la, lo in zip(batch["image_id"], batch["path"], batch["lat"], batch["lon"])]
    size = view.input_size
    out = {
        "image_id": np.asarray([r["image_id"] for r in records], dtype=object),
        "path": np.asarray([r["path"] for r in records], dtype=object),
        "lat": np.asarray([r["lat"] for r in records], dtype=np.float64),
        "lon": np.asarray([r["lon"] for r in records], dtype=np.float64),
        "error": np.asarray([r["error"] or "" for r in records], dtype=object),
        "pixels": _stack([r["pixels"] for r in records], (3, size, size)),
    }
    if test_time:
        out["test_time_pixels"] = _stack([r.get("test_time_pixels") for r in records],
                                         (view.num_test_time_views, 3, size, size))
    return out


def _stack(arrays: list, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 arrays (None where decoding failed: zeros) -> one array [B, ...]; ``shape`` is the
    fallback shape of one when none decoded."""
    shape = next((a.shape for a in arrays if a is not None), shape)
    out = np.zeros((len(arrays), *shape), dtype=np.uint8)
    for j, a in enumerate(arrays):
        if a is not None:
            out[j] = a
    return out


class RayJobWorker:
    """A Ray Data actor: one worker (model replica) of the job; decoded batches -> rows."""

    def __init__(self, job: JobKind, options: JobOptions) -> None:
        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        self.job = job
        self.worker = job.build_worker(options, keeper=job.remote_keeper(options))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "pixels" not in batch:  # a model with a view of its own: decode here, with the model
            model = self.worker.model
            batch = decode_batch(batch, model.view_config, self.job.test_time, model=model)
        image_rows, detail_rows, extras = self.job.rows(self.worker, batch_records(batch))
        out = rows_to_batch(image_rows, detail_rows)
        out["extra"] = np.asarray([extras.get(r["image_id"], b"") for r in image_rows], dtype=object)
        return out


def batch_records(batch: dict[str, np.ndarray]) -> list[dict]:
    """A decoded Ray Data batch -> the records a worker's ``process`` takes."""
    test_time_pixels = batch.get("test_time_pixels")
    return [
        {"image_id": str(i), "path": str(p), "lat": float(la), "lon": float(lo),
         "error": (str(e) or None), "pixels": None if e else px,
         "test_time_pixels": None if e or test_time_pixels is None else test_time_pixels[j]}
        for j, (i, p, la, lo, e, px) in enumerate(zip(batch["image_id"], batch["path"], batch["lat"],
                                                      batch["lon"], batch["error"], batch["pixels"]))
    ]


def rows_to_batch(image_rows: list[dict], concept_rows: list[dict]) -> dict[str, np.ndarray]:
    """One JSON text per image row, with that image's concept (or curve) rows beside it."""
    by_image: dict[str, list[dict]] = {}
    for row in concept_rows:
        by_image.setdefault(row["image_id"], []).append(row)
    return {
        "image": np.asarray([json.dumps(r) for r in image_rows], dtype=object),
        "concepts": np.asarray([json.dumps(by_image.get(r["image_id"], [])) for r in image_rows], dtype=object),
    }


def batch_rows(batch: dict[str, np.ndarray]) -> tuple[list[dict], list[dict]]:
    """The driver's side of ``rows_to_batch``: (image rows, concept rows)."""
    return [json.loads(t) for t in batch["image"]], [row for t in batch["concepts"] for row in json.loads(t)]


def connect(address: str | None):
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'geoxai[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, ignore_reinit_error=True,
                 log_to_driver=False)
    return ray


def cluster_replicas(ray, options) -> tuple[int, int]:
    """(GPUs in the cluster, model replicas): ``options.replicas``, else one per GPU, else CPUs // 2."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    replicas = options.replicas or (gpus if gpus else max(1, int(ray.cluster_resources().get("CPU", 1)) // 2))
    return gpus, replicas


def decoded_dataset(ray, pending: Sequence[Any], view: ViewConfig | None, batch_size: int, test_time: bool = False):
    """A Ray dataset of the pending samples, decoded into views by stateless tasks when ``view``
    is known (else the actors decode with their model)."""
    items = [{"image_id": str(s.id), "path": str(s.image), "lat": float(s.lat), "lon": float(s.lon)}
             for s in pending]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // max(1, batch_size), 1000)))
    if view is not None:
        ds = ds.map_batches(decode_batch, fn_kwargs={"view": view, "test_time": test_time},
                            batch_size=batch_size, batch_format="numpy")
    return ds


def run_ray(job: JobKind, pending: Sequence[Any], store: PartStore, options: JobOptions) -> int:
    if not pending:
        return 0
    progress = job_progress(job, pending, options)
    progress.status(f"connecting to Ray ({options.ray_address or os.environ.get('RAY_ADDRESS') or 'a local Ray'})")
    ray = connect(options.ray_address)
    from ray.data import ActorPoolStrategy

    view = job.model_spec.driver_view()
    gpus, replicas = cluster_replicas(ray, options)
    progress.status(f"starting {replicas} model replicas (each loads the model and its weights)")
    ds = decoded_dataset(ray, pending, view, options.batch_size, test_time=job.test_time)
    ds = ds.map_batches(
        RayJobWorker, fn_constructor_kwargs={"job": job, "options": options},
        batch_size=options.batch_size, batch_format="numpy",
        compute=ActorPoolStrategy(size=replicas), num_gpus=1 if gpus else None,
    )
    batches = (
        (*batch_rows(batch),
         {json.loads(t)["image_id"]: bytes(e) for t, e in zip(batch["image"], batch["extra"]) if len(e)})
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy")
    )
    return write_rows(store, options, batches, progress, keeper=job.keeper(store, options))


class RayEngine(JobEngine):
    """The job on a Ray cluster (``run_ray``); already built ``components`` are not used (every
    actor builds its own replica)."""

    name = "ray"

    def run(self, job: JobKind, pending: Sequence[Any], store: PartStore, options: JobOptions,
            components=None) -> int:
        return run_ray(job, pending, store, options)
