"""Job engines: how the rows of a job's open images are computed.

An engine is a plugin like a model: a distribution registers a ``JobEngine`` factory with the
``register_engines`` hook, and ``--engine NAME`` of ``geoxai report`` and ``geoxai quality``
builds it. Every engine hands its rows to ``geoxai.jobs.run.write_rows``, so resume, sharding and
merge work the same whatever computed them. The built-ins: ``local`` (this process, ``geoxai.jobs.local``) and
``ray`` (a Ray cluster, ``geoxai.jobs.ray_engine``).
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:  # this module is imported to register the engines: it stays light (no pyarrow, no torch)
    from .kind import JobKind, JobOptions
    from .store import PartStore


class JobEngine(abc.ABC):
    name: str = "engine"

    @abc.abstractmethod
    def run(self, job: JobKind, pending: Sequence[Any], store: PartStore, options: JobOptions,
            components: Any = None) -> int:
        """Compute the rows of the ``pending`` samples of ``job`` and write them through
        ``geoxai.jobs.run.write_rows``; return how many images were written. ``components`` are objects the caller
        already built, which an in-process engine may reuse."""


@hookimpl
def register_engines(register):
    register("local", "geoxai.jobs.local:LocalEngine",
             description="this process: decoding workers, compute here, a writer thread")
    register("ray", "geoxai.jobs.ray_engine:RayEngine",
             description="a Ray cluster with Ray Data: one model replica per GPU (pip install 'geoxai[ray]')")
