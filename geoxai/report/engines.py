"""Report engines: how ``run_report`` runs the compute stage over the open images.

An engine is a plugin like a model: a distribution registers a factory with the
``register_engines`` hook, and ``geoxai report --engine NAME`` (``RunOptions(engine=NAME)``)
builds it. Every engine hands its rows to ``geoxai.report.pipeline.write_rows``, so resume,
sharding and merge work the same whatever computed them. The built-ins: ``local`` (this process,
``geoxai.report.pipeline``) and ``ray`` (a Ray cluster, ``geoxai.report.ray_engine``).
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from .config import ReportConfig
    from .store import PartStore


class ReportEngine(abc.ABC):
    name: str = "engine"

    @abc.abstractmethod
    def run(self, config: ReportConfig, pending: Sequence[Any], store: PartStore, options: Any,
            components: Any = None) -> int:
        """``options`` is the run's ``geoxai.report.pipeline.RunOptions``. Compute the rows of the ``pending``
        samples and write them through ``pipeline.write_rows(store, options, len(pending), batches)``; return
        how many images were written. ``components`` (model, explainer, segmenter) are already built objects an
        in-process engine may reuse."""


@hookimpl
def register_engines(register):
    register("local", "geoxai.report.pipeline:LocalEngine",
             description="this process: decoding workers, compute here, a writer thread")
    register("ray", "geoxai.report.ray_engine:RayEngine",
             description="a Ray cluster with Ray Data: one model replica per GPU (pip install 'geoxai[ray]')")
