"""``geoxai report``: dataset-level concept influence (SemP Tables 3 and 4) for any model,
explainer, segmenter and dataset; ``geoxai report merge`` joins shard outputs."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ._common import friendly_errors, plugin_options


def _default_workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))


@click.group("report", invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", help="Model name (see `geoxai plugins`).")
@click.option("--explainer", help="Explainer name, e.g. gradcam, ig-smoothgrad, combicam, lrp.")
@click.option("--segmenter", help="Segmenter name.")
@click.option("--data", type=click.Path(), help="Dataset: image,lat,lon[,id] CSV, img_id,latitude,longitude "
              "CSV with img/, or a folder of geotagged JPEGs.")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (resumed if it exists).")
@click.option("--radius", default=750.0, show_default=True, help="GCD (km) up to which a prediction is correct.")
@click.option("--dilation", default=0, show_default=True, help="Dilate concept masks by this many pixels.")
@click.option("--k", "k", default=1000, show_default=True, help="Top-k explanation pixels (eq. 1).")
@click.option("--min-size", default=0.1, show_default=True, help="Smallest relative concept size counted.")
@click.option("--min-images", default=100, show_default=True,
              help="Report a split of a concept only with at least this many images.")
@click.option("--batch-size", default=16, show_default=True, help="Images per model batch.")
@click.option("--workers", default=None, type=int, help="Decoding worker processes [default: min(4, cores-1)].")
@click.option("--model-option", multiple=True, metavar="K=V", help="Model option (repeatable).")
@click.option("--explainer-option", multiple=True, metavar="K=V", help="Explainer option (repeatable).")
@click.option("--segmenter-option", multiple=True, metavar="K=V", help="Segmenter option (repeatable).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Model weights file (instead of the registered ones).")
@click.option("--shard", metavar="I/N",
              help="Process only images i with i % N == I [default: $RANK/$WORLD_SIZE or 0/1].")
@click.option("--engine", default="local", show_default=True,
              help="local: this process plus decoding workers; ray: a Ray cluster via Ray Data; "
                   "or an engine a plugin registers (see `geoxai plugins`).")
@click.option("--ray-address", default=None, help="Ray cluster address [default: $RAY_ADDRESS or a local Ray].")
@click.option("--replicas", default=None, type=int, help="Ray: model replicas [default: one per GPU, else CPUs/2].")
@click.option("--seed", default=0, show_default=True, help="Seed for stochastic explainers.")
@click.option("--views", type=click.Choice(["single", "test-time"]), default="single", show_default=True,
              help="Prediction protocol of the rows: the single view that is explained, or the model's "
                   "test-time crops (what `geoxai evaluate` uses by default).")
@click.option("--examples", default=0, show_default=True, help="Per-image example figures in the HTML report.")
@click.option("--part-size", default=256, show_default=True, help="Images per Parquet part (the unit of resume).")
@click.option("--retry-failed", is_flag=True,
              help="Compute the images that failed in an earlier run again (e.g. after fixing their files).")
@click.option("--threads", default=None, type=int, help="torch threads for the model [default: torch's choice].")
@click.option("--device", default=None, help="torch device [default: cuda if available, else cpu].")
@click.option("--quiet", is_flag=True, help="No progress bar and no table.")
@click.option("--quality", "quality_images", default=None, type=int, is_flag=False, flag_value=50, metavar="[N]",
              help="Add the explainer's faithfulness/sanity/stability table, measured on the first N images "
                   "[flag alone: 50] (see `geoxai quality`).")
@click.pass_context
@friendly_errors
def command(ctx, model, explainer, segmenter, data, out, radius, dilation, k, min_size, min_images, batch_size,
            workers, model_option, explainer_option, segmenter_option, weights, shard, engine, ray_address, replicas,
            seed, views, examples, part_size, retry_failed, threads, device, quiet, quality_images) -> None:
    """Compute a concept-influence report over a dataset.

    Without a subcommand, runs (or resumes) a report into --out: per-image predictions, GCD errors
    and ci per concept as Parquet parts, then summary.{csv,md,json}, plots/ and report.html.
    Interrupt it any time; the same command resumes where it stopped.

    \b
    Example:
      geoxai report --model tiny --explainer gradcam --segmenter tiny --data data.csv --out rep
      geoxai report merge rep-0 rep-1 --out rep   # join shard outputs
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--model", model), ("--explainer", explainer),
                                        ("--segmenter", segmenter), ("--data", data), ("--out", out)) if not value]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or use a subcommand: merge)")
    from ..report.config import ReportConfig, parse_shard
    from ..report.pipeline import RunOptions, run_report

    if k < 1:
        raise click.BadParameter("must be >= 1", param_hint="--k")
    if not 0 < min_size <= 1:
        raise click.BadParameter("must be in (0, 1]", param_hint="--min-size")
    if batch_size < 1:
        raise click.BadParameter("must be >= 1", param_hint="--batch-size")
    config = ReportConfig(
        model=model, explainer=explainer, segmenter=segmenter,
        model_options=plugin_options("model", model, model_option),
        explainer_options=plugin_options("explainer", explainer, explainer_option),
        segmenter_options=plugin_options("segmenter", segmenter, segmenter_option),
        weights=_weights_for_config(weights),
        k=k, min_size=min_size, dilation=dilation, seed=seed, views=views,
    )
    options = RunOptions(
        batch_size=batch_size, workers=_default_workers() if workers is None else max(0, workers),
        shard=parse_shard(shard), engine=engine, part_size=part_size, progress=not quiet, device=device,
        ray_address=ray_address, replicas=replicas, threads=threads, retry_failed=retry_failed,
    )
    summary = run_report(config, data, out, options, radius_km=radius, min_images=min_images, examples=examples)
    _print_summary(summary, out, quiet)
    if quality_images:
        from ..quality.report_section import add_quality_section

        add_quality_section(out, config, data, options, max_images=quality_images)
        if not quiet:
            click.echo((Path(out) / "summary.md").read_text(encoding="utf-8").split("# Explanation quality")[-1])


@command.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "merged", required=True, type=click.Path(file_okay=False), help="Merged report folder.")
@click.option("--radius", default=750.0, show_default=True, help="GCD (km) up to which a prediction is correct.")
@click.option("--min-images", default=100, show_default=True, help="Minimum images per reported split.")
@click.option("--quiet", is_flag=True, help="Do not print the tables.")
@friendly_errors
def merge_command(dirs, merged, radius, min_images, quiet) -> None:
    """Merge report folders of shards of the same configuration into one report."""
    from ..report.merge import merge_reports

    summary = merge_reports(dirs, merged, radius_km=radius, min_images=min_images)
    _print_summary(summary, merged, quiet)


def _print_summary(summary, out, quiet: bool) -> None:
    from ..report.summary import accuracy_table_text, concept_table_text

    if quiet:
        return
    c = summary.counts
    click.echo(f"{c['images']} images ({c['ok']} explained, {c['failed']} failed); "
               f"{c['correct']} correct / {c['incorrect']} incorrect at {summary.radius_km:g} km")
    click.echo(concept_table_text(summary))
    click.echo(f"accuracy ({summary.views} views):")
    click.echo(accuracy_table_text(summary))
    click.echo(f"report: {os.path.join(out, 'report.html')}")


def _weights_for_config(weights: str | None) -> str | None:
    """A local path made absolute; an hf:// spec pinned to its commit and file, so config.json names
    exactly the weights every shard and every resume uses."""
    if not weights:
        return None
    from ..hub import is_hub, pinned

    return pinned(weights) if is_hub(weights) else os.path.abspath(weights)
