"""``geoxai report``: dataset-level concept influence (SemP Tables 3 and 4) for any model,
explainer, segmenter and dataset; ``geoxai report merge`` joins shard outputs."""
from __future__ import annotations

import os
import sys

import click

from . import _options as opts
from ._common import friendly_errors, plugin_options


@click.group("report", invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@opts.model_options(required=False)
@opts.explainer_options()
@opts.segmenter_options()
@click.option("--data", type=click.Path(), help="Dataset: image,lat,lon[,id] CSV, img_id,latitude,longitude "
              "CSV with img/, or a folder of geotagged JPEGs.")
@opts.out_option(required=False, help="Output folder (resumed if it exists).", name="out")
@opts.radius_option
@opts.ci_options
@opts.min_images_option
@opts.batch_size_option(16)
@opts.workers_option
@click.option("--shard", metavar="I/N",
              help="Process only images i with i % N == I [default: $RANK/$WORLD_SIZE or 0/1].")
@click.option("--engine", default="local", show_default=True,
              help="local: this process plus decoding workers; ray: a Ray cluster via Ray Data; "
                   "or an engine a plugin registers (see `geoxai plugins`).")
@click.option("--ray-address", default=None, help="Ray cluster address [default: $RAY_ADDRESS or a local Ray].")
@click.option("--replicas", default=None, type=click.IntRange(min=1),
              help="Ray: model replicas [default: one per GPU, else CPUs/2].")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed for stochastic explainers.")
@click.option("--views", type=click.Choice(["single", "test-time"]), default="single", show_default=True,
              help="Prediction protocol of the rows: the single view that is explained, or the model's "
                   "test-time crops (what `geoxai evaluate` uses by default).")
@click.option("--shapley", is_flag=True,
              help="Also compute concept Shapley values (concept-shap, model calls per image) beside the "
                   "explainer's ci, with an agreement table (Spearman of ci with Shapley shares); on by itself "
                   "with -e concept-shap.")
@click.option("--examples", default=0, show_default=True, type=click.IntRange(min=0),
              help="Per-image example figures in the HTML report.")
@click.option("--part-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Images per Parquet part (the unit of resume).")
@click.option("--retry-failed", is_flag=True,
              help="Compute the images that failed in an earlier run again (e.g. after fixing their files).")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="torch threads for the model [default: torch's choice].")
@click.option("--device", default=None, help="torch device [default: cuda if available, else cpu].")
@opts.quiet_option("No progress and no table (progress: done/total images on stderr, also into a log file).")
@click.option("--quality", "quality_images", default=None, type=click.IntRange(min=1), is_flag=False, flag_value=50,
              metavar="[N]", help="Add the explainer's faithfulness/sanity/stability table, measured on the first N "
                                  "images [flag alone: 50] (see `geoxai quality`).")
@click.pass_context
@friendly_errors
def command(ctx, model_name, weights, model_opts, explainer_name, explainer_opts, segmenter_name, segmenter_opts,
            data, out, radius, k, min_size, dilation, min_images, batch_size, workers, shard, engine, ray_address,
            replicas, seed, views, shapley, examples, part_size, retry_failed, threads, device, quiet,
            quality_images) -> None:
    """Compute a concept-influence report over a dataset.

    Without a subcommand, runs (or resumes) a report into --out: per-image predictions, GCD errors
    and ci per concept as Parquet parts, then summary.{csv,md,json}, plots/ and report.html.
    Interrupt it any time; the same command resumes where it stopped. One run at a time per
    --out: the folder is locked, a second run is refused with the holder's pid, host and start
    (a killed run's lock is taken over; on NFS see docs/reports.md, GEOXAI_NO_LOCK=1).

    \b
    Example:
      geoxai report --model tiny --explainer gradcam --segmenter tiny --data data.csv --out rep
      geoxai report merge rep-0 rep-1 --out rep   # join shard outputs
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--model", model_name), ("--explainer", explainer_name),
                                        ("--segmenter", segmenter_name), ("--data", data), ("--out", out)) if not value]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or use a subcommand: merge)")
    from ..report.config import ReportConfig, parse_shard
    from ..report.pipeline import RunOptions, run_report

    config = ReportConfig(
        model=model_name, explainer=explainer_name, segmenter=segmenter_name,
        model_options=plugin_options("model", model_name, model_opts),
        explainer_options=plugin_options("explainer", explainer_name, explainer_opts),
        segmenter_options=plugin_options("segmenter", segmenter_name, segmenter_opts),
        weights=_weights_for_config(weights),
        k=k, min_size=min_size, dilation=dilation, seed=seed, views=views, shapley=shapley,
    )
    options = RunOptions(
        batch_size=batch_size, workers=opts.default_workers() if workers is None else workers,
        shard=parse_shard(shard), engine=engine, part_size=part_size, progress=not quiet, device=device,
        ray_address=ray_address, replicas=replicas, threads=threads, retry_failed=retry_failed,
    )
    try:
        summary = run_report(config, data, out, options, radius_km=radius, min_images=min_images, examples=examples,
                             quality_images=quality_images)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: the rows computed so far are saved in {out}; run the same command to resume",
                   err=True)
        sys.exit(130)
    _print_summary(summary, out, quiet)
    if summary.counts["failed"]:
        # every other image is explained and summarised; the status says not all of them were
        click.echo(f"{summary.counts['failed']} image(s) failed (their reasons: summary.json, report.html); "
                   f"exit status 1", err=True)
        sys.exit(1)


@command.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@opts.out_option(required=True, help="Merged report folder.", name="merged")
@opts.radius_option
@opts.min_images_option
@opts.quiet_option("Do not print the tables.")
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
    for section in summary.sections:  # the same data summary.md and report.html were rendered from
        click.echo(section.markdown())
    click.echo(f"report: {os.path.join(out, 'report.html')}")


def _weights_for_config(weights: str | None) -> str | None:
    """A local path made absolute; an hf:// spec pinned to its commit and file, so config.json names
    exactly the weights every shard and every resume uses."""
    if not weights:
        return None
    from ..hub import is_hub, pinned

    return pinned(weights) if is_hub(weights) else os.path.abspath(weights)
