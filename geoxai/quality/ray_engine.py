"""``geoxai quality --engine ray``: the quality measures on a Ray cluster.

The report's Ray pipeline with another worker: stateless tasks decode the views (read from the
model's class, so the driver builds no model and loads no weights), ``RayQualityWorker`` actors
(one model replica and one explainer each, a GPU each when the cluster has GPUs) compute the maps
and curves, and this driver writes the same Parquet parts as the local engine, so resume, shards
and the summary work unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from ..report.pipeline import write_rows
from ..report.ray_engine import (
    batch_records,
    batch_rows,
    cluster_replicas,
    connect,
    decode_batch,
    decoded_dataset,
    driver_view,
    rows_to_batch,
)
from .store import QualityConfig, QualityStore


class RayQualityWorker:
    """A Ray Data actor: one model replica and one explainer; decoded batches -> quality rows."""

    def __init__(self, config: dict[str, Any], spec: dict[str, Any], options: dict[str, Any]) -> None:
        import torch

        from .worker import ExplainerSpec, QualityOptions, QualityWorker, build_quality_model

        quality_config = QualityConfig.from_dict(config)
        run_options = QualityOptions(**{**options, "shard": tuple(options["shard"])})
        if run_options.threads:
            torch.set_num_threads(run_options.threads)
        device = run_options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = build_quality_model(quality_config).to(device).eval()
        segmenter = None
        if quality_config.segmenter:
            from ..plugins import load_segmenter

            segmenter = load_segmenter(quality_config.segmenter)
        self.worker = QualityWorker(model, quality_config, ExplainerSpec(**spec), run_options, segmenter)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "pixels" not in batch:  # a model with a view of its own: decode here, with the model
            model = self.worker.model
            batch = decode_batch(batch, model.view_config, model=model)
        return rows_to_batch(*self.worker.process(batch_records(batch)))


def run_quality_ray(config: QualityConfig, spec, pending: Sequence[Any], store: QualityStore, options) -> int:
    """Compute the rows of ``pending`` for one explainer (or baseline) ``spec`` on the cluster and
    write them through the report's ``write_rows``; returns how many images were written."""
    if not pending:
        return 0
    ray = connect(options.ray_address)
    from ray.data import ActorPoolStrategy

    from .worker import quality_report_config

    gpus, replicas = cluster_replicas(ray, options)
    ds = decoded_dataset(ray, pending, driver_view(quality_report_config(config)), options.batch_size)
    ds = ds.map_batches(
        RayQualityWorker, fn_constructor_kwargs={"config": asdict(config), "spec": asdict(spec),
                                                 "options": asdict(options)},
        batch_size=options.batch_size, batch_format="numpy",
        compute=ActorPoolStrategy(size=replicas), num_gpus=1 if gpus else None,
    )
    batches = (batch_rows(batch) for batch in ds.iter_batches(batch_size=None, batch_format="numpy"))
    return write_rows(store, options, len(pending), batches, desc=f"quality {spec.folder}")
