"""The Ray engine: the same pipeline on a Ray cluster with Ray Data.

decode (stateless tasks, CPU) -> ``RayReportWorker`` actors (one model replica each, a GPU each
when the cluster has GPUs) -> this driver, which writes the same Parquet parts as the local engine,
so resume, sharding and merge work unchanged. Rows travel back as JSON text: exact for floats
(``repr`` round-trips), and free of Arrow's trouble with None-heavy mixed columns.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from .config import ReportConfig
from .engines import ReportEngine
from .loading import decode, view_function
from .pipeline import RunOptions, write_rows
from .store import PartStore


def _decode_batch(batch: dict[str, np.ndarray], view) -> dict[str, np.ndarray]:
    """Ray Data task: paths -> uint8 views [B, 3, S, S] (zeros where decoding failed) + errors."""
    from types import SimpleNamespace

    records = [decode(SimpleNamespace(id=i, image=p, lat=la, lon=lo), view)
               for i, p, la, lo in zip(batch["image_id"], batch["path"], batch["lat"], batch["lon"])]
    size = view.input_size if hasattr(view, "input_size") else None
    shape = next((r["pixels"].shape for r in records if r["pixels"] is not None), (3, size or 1, size or 1))
    pixels = np.zeros((len(records), *shape), dtype=np.uint8)
    for j, r in enumerate(records):
        if r["pixels"] is not None:
            pixels[j] = r["pixels"]
    return {
        "image_id": np.asarray([r["image_id"] for r in records], dtype=object),
        "path": np.asarray([r["path"] for r in records], dtype=object),
        "lat": np.asarray([r["lat"] for r in records], dtype=np.float64),
        "lon": np.asarray([r["lon"] for r in records], dtype=np.float64),
        "error": np.asarray([r["error"] or "" for r in records], dtype=object),
        "pixels": pixels,
    }


class RayReportWorker:
    """A Ray Data actor: builds one model/explainer/segmenter replica, then scores batches."""

    def __init__(self, config: dict[str, Any], shard: str, device: str | None = None) -> None:
        from .worker import ReportWorker

        self.worker = ReportWorker(ReportConfig.from_dict(config), shard=shard, device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        records = [
            {"image_id": str(i), "path": str(p), "lat": float(la), "lon": float(lo),
             "error": (str(e) or None), "pixels": None if e else px}
            for i, p, la, lo, e, px in zip(batch["image_id"], batch["path"], batch["lat"], batch["lon"],
                                           batch["error"], batch["pixels"])
        ]
        image_rows, concept_rows = self.worker.process(records)
        by_image: dict[str, list[dict]] = {}
        for row in concept_rows:
            by_image.setdefault(row["image_id"], []).append(row)
        return {
            "image": np.asarray([json.dumps(r) for r in image_rows], dtype=object),
            "concepts": np.asarray([json.dumps(by_image.get(r["image_id"], [])) for r in image_rows], dtype=object),
        }


def _connect(address: str | None):
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'geoxai[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, ignore_reinit_error=True,
                 log_to_driver=False)
    return ray


def run_ray(config: ReportConfig, pending: Sequence[Any], store: PartStore, options: RunOptions) -> int:
    if not pending:
        return 0
    ray = _connect(options.ray_address)
    from ray.data import ActorPoolStrategy

    from .worker import load_report_model

    # The view transform is built from a throwaway CPU model here, so decode tasks need no model.
    model = load_report_model(config).to("cpu")
    view = view_function(model)
    del model
    gpus = int(ray.cluster_resources().get("GPU", 0))
    replicas = options.replicas or (gpus if gpus else max(1, int(ray.cluster_resources().get("CPU", 1)) // 2))
    items = [{"image_id": str(s.id), "path": str(s.image), "lat": float(s.lat), "lon": float(s.lon)}
             for s in pending]
    shard = f"{options.shard[0]}/{options.shard[1]}"
    ds = (
        ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // max(1, options.batch_size), 1000)))
        .map_batches(_decode_batch, fn_kwargs={"view": view}, batch_size=options.batch_size, batch_format="numpy")
        .map_batches(
            RayReportWorker, fn_constructor_kwargs={"config": asdict(config), "shard": shard,
                                                    "device": options.device},
            batch_size=options.batch_size, batch_format="numpy",
            compute=ActorPoolStrategy(size=replicas), num_gpus=1 if gpus else None,
        )
    )
    batches = (
        ([json.loads(t) for t in batch["image"]], [row for t in batch["concepts"] for row in json.loads(t)])
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy")
    )
    return write_rows(store, options, len(pending), batches)


class RayEngine(ReportEngine):
    """The report on a Ray cluster (``run_ray``); already built ``components`` are not used
    (every actor builds its own replica)."""

    name = "ray"

    def run(self, config: ReportConfig, pending: Sequence[Any], store: PartStore, options: RunOptions,
            components=None) -> int:
        return run_ray(config, pending, store, options)
