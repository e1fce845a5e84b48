"""``geoxai report --quality``: the evidence for the map under every ci table.

Runs the quality measures of the report's own model, explainer (with its options and seed) and
segmenter on the first ``max_images`` images of the report's dataset into ``OUT/quality`` (a
complete ``geoxai quality`` folder, resumable like the report), then appends its table to the
report's ``summary.md`` and ``report.html``.
"""
from __future__ import annotations

import html
from pathlib import Path

from ..io.atomic import write_text_atomic
from .outputs import _html_table, finalize, markdown_table, table_rows

MARK = "<!-- geoxai-quality -->"


def add_quality_section(out: str | Path, report_config, data, run_options, max_images: int = 50,
                        steps: int = 20) -> dict:
    from ..plugins import load_segmenter
    from ..report.worker import report_explainer_options
    from .run import ExplainerSpec, QualityOptions, run_quality
    from .store import QualityConfig

    out = Path(out)
    explainer_options = report_explainer_options(report_config)  # the report's maps, as its worker makes them
    config = QualityConfig(model=report_config.model, model_options=dict(report_config.model_options),
                           weights=report_config.weights, steps=steps, orders=("most",),
                           segmenter=report_config.segmenter, k=report_config.k, seed=report_config.seed)
    options = QualityOptions(batch_size=max(1, min(run_options.batch_size, 8)), workers=0, shard=run_options.shard,
                             progress=run_options.progress, device=run_options.device, threads=run_options.threads)
    segmenter = load_segmenter(report_config.segmenter, **report_config.segmenter_options)
    run_quality(report_config.model, [ExplainerSpec(report_config.explainer, explainer_options)], out / "quality",
                data=data, config=config, options=options, segmenter=segmenter, max_images=max_images)
    summary = finalize(out / "quality")
    head, body = table_rows(summary)
    intro = (f"Faithfulness (deletion/insertion, most relevant first, AUC normalised by the clean score), "
             f"model-randomisation sanity check and seed stability of the explainer on the first {max_images} "
             f"images; baselines: smooth random maps (chance) and a centre-bias map. Details: quality/quality.html.")
    _append_markdown(out / "summary.md", f"# Explanation quality\n\n{intro}\n\n{markdown_table(head, body)}")
    _insert_html(out / "report.html", f"{MARK}<h2>Explanation quality</h2><p>{html.escape(intro)} "
                 f"<a href='quality/quality.html'>quality report</a></p>{_html_table(head, body)}{MARK}")
    return summary


def _append_markdown(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = text.split("\n# Explanation quality\n")[0].rstrip("\n")
    write_text_atomic(path, f"{text}\n\n{section}")


def _insert_html(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if MARK in text:  # a rerun replaces the earlier section
        before, _, rest = text.partition(MARK)
        text = before + rest.partition(MARK)[2]
    anchor = "<p>Raw rows:" if "<p>Raw rows:" in text else "</body>"
    write_text_atomic(path, text.replace(anchor, section + anchor, 1))
