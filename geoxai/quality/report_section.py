"""``geoxai report --quality``: the evidence for the map under every ci table.

Runs the quality measures of the report's own model, explainer (with its options and seed) and
segmenter on the first ``max_images`` images of the report's dataset into ``OUT/quality`` (a
complete ``geoxai quality`` folder, resumable like the report) and returns its table as a
``Section``, which the report renders into its ``summary.md`` and ``report.html``.
"""
from __future__ import annotations

from pathlib import Path

from ..jobs.sections import Section


def quality_section(out: str | Path, report_config, data, run_options, max_images: int = 50, components=None,
                    steps: int = 20) -> Section:
    """``components``: the report's (model, explainer, segmenter) when it built them in this process."""
    from ..plugins import load_segmenter
    from ..report.worker import report_explainer_options
    from .outputs import finalize, table_rows
    from .run import ExplainerSpec, QualityOptions, run_quality
    from .store import QualityConfig

    out = Path(out)
    explainer_options = report_explainer_options(report_config)  # the report's maps, as its worker makes them
    config = QualityConfig(model=report_config.model, model_options=dict(report_config.model_options),
                           weights=report_config.weights, steps=steps, orders=("most",),
                           segmenter=report_config.segmenter, k=report_config.k, seed=report_config.seed)
    options = QualityOptions(batch_size=max(1, min(run_options.batch_size, 8)), workers=0, shard=run_options.shard,
                             progress=run_options.progress, device=run_options.device, threads=run_options.threads)
    model, _, segmenter = components if components is not None else (None, None, None)
    if segmenter is None:
        segmenter = load_segmenter(report_config.segmenter, **report_config.segmenter_options)
    run_quality(report_config.model, [ExplainerSpec(report_config.explainer, explainer_options)], out / "quality",
                data=data, config=config, options=options, model=model, segmenter=segmenter, max_images=max_images)
    head, body = table_rows(finalize(out / "quality"))
    intro = (f"Faithfulness (deletion/insertion, most relevant first, AUC normalised by the clean score), "
             f"model-randomisation sanity check and seed stability of the explainer on the first {max_images} "
             f"images; baselines: smooth random maps (chance) and a centre-bias map. Details: quality/quality.html.")
    return Section("Explanation quality", intro, head, body, link=("quality report", "quality/quality.html"))
