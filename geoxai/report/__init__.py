"""Dataset-level concept-influence reports (the SemP paper's Tables 3 and 4) for any model,
explainer, segmenter and dataset: a resumable, shardable streaming pipeline.

``run_report`` computes or resumes a report folder, ``merge_reports`` joins shard folders,
``summarize`` turns per-image rows into the per-concept tables.
"""
from .config import ReportConfig, parse_shard
from .merge import merge_reports
from .pipeline import RunOptions, run_report
from .summary import ReportSummary, summarize

__all__ = ["ReportConfig", "ReportSummary", "RunOptions", "merge_reports", "parse_shard", "run_report", "summarize"]
