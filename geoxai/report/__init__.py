"""Dataset-level concept-influence reports (the SemP paper's Tables 3 and 4) for any model,
explainer, segmenter and dataset: a resumable, shardable streaming pipeline.

``run_report`` computes or resumes a report folder, ``merge_reports`` joins shard folders,
``summarize`` turns per-image rows into the per-concept tables.
"""
import importlib
from typing import Any

# lazy, so that importing a light submodule (the engines' registration) imports no torch
_EXPORTS = {
    "ReportConfig": "config", "parse_shard": "config", "merge_reports": "merge", "RunOptions": "pipeline",
    "run_report": "pipeline", "ReportSummary": "summary", "summarize": "summary",
}

__all__ = ["ReportConfig", "ReportSummary", "RunOptions", "merge_reports", "parse_shard", "run_report", "summarize"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
