"""``geoxai quality``: is the map faithful? Deletion/insertion (with geolocation curves), the
model-randomisation sanity check and seed stability for one or more explainers over photos or a
dataset, with smooth-random and centre-bias baselines."""
from __future__ import annotations

import os

import click

from . import _options as opts
from ._common import friendly_errors, plugin_options


def _explainer_options(pairs: tuple[str, ...], names: list[str]) -> dict[str, dict]:
    """``NAME:KEY=VALUE`` (one explainer) or ``KEY=VALUE`` (all of them), typed and range-checked."""
    per: dict[str, list[str]] = {n: [] for n in names}
    for pair in pairs:
        head, sep, rest = pair.partition(":")
        if sep and "=" not in head:
            if head not in per:
                raise click.BadParameter(f"{pair!r} names explainer {head!r}, which is not among --explainer",
                                         param_hint="--explainer-option")
            per[head].append(rest)
        else:
            for n in names:
                per[n].append(pair)
    return {n: plugin_options("explainer", n, tuple(given)) for n, given in per.items()}


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers",
                                 param_hint="--stability-seeds") from None


@click.command("quality", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--model", "-m", required=True, callback=opts.user_code("model"),
              help="Model name (see `geoxai plugins`), or your own class as package.module:Class.")
@click.option("--explainer", "-e", "explainers", multiple=True, required=True,
              help="Explainer name (repeatable): ig-smoothgrad, gradcam, combicam, lrp, ...")
@click.option("--data", type=click.Path(), help="Dataset CSV/folder (as for `report`) instead of IMAGES; "
              "its coordinates give the ground-truth curves.")
@click.option("--out", "-O", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder (resumed if it exists).")
@click.option("--target", default="predicted", show_default=True,
              help="predicted, cell:I, region:NODE, within:LAT,LON,KM or cells:I,J.")
@click.option("--score", type=click.Choice(["probability", "logit"]), default="probability", show_default=True,
              help="Score of a cell target on the curves (regions always use their probability).")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1),
              help="Removal steps (at most this many intervals).")
@click.option("--fill", type=click.Choice(["blur", "mean", "noise", "road"]), default="blur", show_default=True,
              help="What removed pixels become (road: ROAD's noisy linear imputation).")
@click.option("--unit", default=1, show_default=True, type=click.IntRange(min=1),
              help="Remove UNIT x UNIT patches instead of pixels.")
@click.option("--order", type=click.Choice(["most", "least", "both"]), default="most", show_default=True,
              help="Most relevant first, least relevant first, or both (least-first deletion is most-first "
                   "insertion read backwards: the same inputs).")
@click.option("--radius", default=750.0, show_default=True, type=click.FloatRange(min=0.0, min_open=True),
              help="Radius (km) of the probability-mass curves.")
@click.option("--sanity-stages", default=0, show_default=True, type=click.IntRange(min=-1),
              help="Randomise this many stages from the head (0 = all; -1 = no sanity check).")
@click.option("--stability-seeds", default="0,1", show_default=True,
              help="Seeds compared for explainers with a seed option (fewer than two: no stability).")
@click.option("--segmenter", default=None, help="Segmenter for the ci stability (optional).")
@click.option("--k", "k", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Top-k pixels of the overlap and of ci.")
@click.option("--no-baselines", is_flag=True, help="Skip the smooth-random and centre-bias baselines.")
@click.option("--batch-size", "-b", default=8, show_default=True, type=click.IntRange(min=1),
              help="Images explained per batch.")
@click.option("--forward-batch", default=64, show_default=True, type=click.IntRange(min=1),
              help="Perturbed copies per forward pass.")
@click.option("--memory-format", type=click.Choice(["auto", "contiguous", "channels_last"]), default="auto",
              show_default=True, help="Layout of the perturbed copies (auto: channels_last for convolutional "
              "models on the CPU, faster there); changes float rounding only.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Image-decoding workers running ahead of the model (0: decode in the main process).")
@click.option("--model-option", multiple=True, metavar="K=V", help="Model option (repeatable).")
@click.option("--explainer-option", multiple=True, metavar="[E:]K=V",
              help="Explainer option for explainer E (or all), repeatable, e.g. ig-smoothgrad:n_samples=5.")
@click.option("--weights", type=click.Path(dir_okay=True), help="Model weights instead of the registered ones.")
@click.option("--shard", metavar="I/N",
              help="Process only images i with i % N == I [default: $RANK/$WORLD_SIZE or 0/1].")
@click.option("--engine", default="local", show_default=True,
              help="local: this process; ray: a Ray cluster via Ray Data, one model replica per actor; or an "
                   "engine a plugin registers (see `geoxai plugins`).")
@click.option("--ray-address", default=None, help="Ray cluster address [default: $RAY_ADDRESS or a local Ray].")
@click.option("--replicas", default=None, type=click.IntRange(min=1),
              help="Ray: model replicas [default: one per GPU, else CPUs/2].")
@click.option("--part-size", default=16, show_default=True, type=click.IntRange(min=1),
              help="Images per Parquet part (the unit of resume).")
@click.option("--retry-failed", is_flag=True, help="Compute failed images again.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the explainers, baselines and fills.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads [default: torch's choice].")
@click.option("--device", default=None, help="torch device [default: cuda if available, else cpu].")
@click.option("--quiet", is_flag=True, help="No progress and no table (progress: done/total images on stderr, "
              "updated per image, also into a log file).")
@friendly_errors
def command(images, model, explainers, data, out, target, score, steps, fill, unit, order, radius, sanity_stages,
            stability_seeds, segmenter, k, no_baselines, batch_size, forward_batch, memory_format, workers,
            model_option, explainer_option, weights, shard, engine, ray_address, replicas, part_size, retry_failed,
            seed, threads, device, quiet) -> None:
    """Measure how faithful, sane and stable explanation maps are.

    Writes per-explainer folders of Parquet rows (per-image AUCs, curves), then summary.{csv,json,md},
    plots/ and quality.html into --out. Interrupt any time; the same command resumes. One run at
    a time per --out: the folder is locked, a second run is refused with the holder's pid, host
    and start (a killed run's lock is taken over; on NFS see docs/reports.md, GEOXAI_NO_LOCK=1).

    \b
    Example:
      geoxai quality --model imagenet-lite0 -e gradcam -e lrp photos/ --out q
    """
    from ..quality.run import ExplainerSpec, QualityOptions, run_quality
    from ..quality.store import QualityConfig
    from ..report.config import parse_shard
    from ..targets import parse_target

    if bool(images) == bool(data):
        raise click.UsageError("give either IMAGES or --data")
    for name, value, low in (("--steps", steps, 1), ("--unit", unit, 1), ("--batch-size", batch_size, 1),
                             ("--forward-batch", forward_batch, 1), ("--k", k, 1)):
        if value < low:
            raise click.BadParameter(f"must be >= {low}", param_hint=name)
    parse_target(target)
    names = list(dict.fromkeys(explainers))
    per = _explainer_options(explainer_option, names)
    config = QualityConfig(
        model=model, model_options=plugin_options("model", model, model_option),
        weights=os.path.abspath(weights) if weights else None,
        target=target, score=score, steps=steps, fill=fill, unit=unit,
        orders=("most", "least") if order == "both" else (order,), radius_km=radius, sanity_stages=sanity_stages,
        stability_seeds=_seeds(stability_seeds), segmenter=segmenter, k=k, seed=seed,
    )
    options = QualityOptions(batch_size=batch_size, workers=max(0, workers), shard=parse_shard(shard), engine=engine,
                             ray_address=ray_address, replicas=replicas, part_size=part_size, progress=not quiet,
                             device=device, threads=threads, retry_failed=retry_failed, forward_batch=forward_batch,
                             memory_format=memory_format)
    run_quality(model, [ExplainerSpec(n, per[n]) for n in names], out, data=data, images=list(images),
                config=config, options=options, baselines=not no_baselines)
    if not quiet:
        click.echo(open(os.path.join(out, "summary.md"), encoding="utf-8").read())
        click.echo(f"report: {os.path.join(out, 'quality.html')}")
