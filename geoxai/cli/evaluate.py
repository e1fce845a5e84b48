"""``geoxai evaluate``: the accuracy table at 1/25/200/750/2500 km."""
from __future__ import annotations

import sys

import click

from ._common import build_model, friendly_errors
from ._options import batch_size_option, default_workers, model_options, out_option, quiet_option, workers_option


@click.command("evaluate")
@model_options()
@click.option("--data", required=True, type=click.Path(exists=True),
              help="Dataset: CSV with image,lat,lon[,id]; CSV with img_id,latitude,longitude and images in img/; "
                   "or a folder of EXIF-geotagged photos.")
@out_option(required=False, help="Folder for accuracy.csv, accuracy.json, predictions.csv (and failed.csv).",
            name="out")
@batch_size_option(16)
@workers_option
@click.option("--views", type=click.Choice(["test-time", "single"]), default="test-time", show_default=True,
              help="Prediction protocol: the model's test-time crops, or the single view an explainer explains "
                   "(what `geoxai report` scores by default).")
@quiet_option()
@friendly_errors
def command(model_name, weights, model_opts, data, out, batch_size, workers, views, quiet):
    """Evaluate a model's geolocation accuracy on a dataset (a_r, GCD < r km).

    Predicts with the model's test-time crops by default (--views single: the one explained
    view); the table and every output file name the protocol. An image that cannot be read (or
    whose name cannot be stored) is left out with its reason (in failed.csv with --out); the
    others are evaluated, and the exit status is 1.
    """
    from ..evaluation import evaluate, format_table
    from ..io.datasets import read_dataset
    from ..io.images import display_path

    samples = read_dataset(data)
    if not samples:
        raise click.ClickException(f"no images found in {display_path(data)}")
    model = build_model(model_name, weights, model_opts, quiet=quiet)
    result = evaluate(model, samples, batch_size=batch_size,
                      workers=default_workers() if workers is None else workers, progress=not quiet, views=views)
    click.echo(format_table(result.table()))
    if result.failed:
        click.echo(f"{len(result.failed)} image(s) failed and were left out:", err=True)
        for image_id, reason in result.failed[:20]:
            click.echo(f"  {image_id}: {reason}", err=True)
    if out:
        for path in result.write(out):
            click.echo(f"wrote {path}", err=True)
    if result.failed:
        sys.exit(1)  # like predict/explain: the others are evaluated and written, but not every image was
