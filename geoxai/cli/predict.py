"""``geoxai predict``: where does a model put each photo?"""
from __future__ import annotations

import json

import click

from ._common import build_model, collect_images, friendly_errors, readable_images
from ._options import model_options, quiet_option


@click.command("predict")
@click.argument("images", nargs=-1, required=True, type=click.Path())
@model_options()
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(min=1),
              help="Number of top cells to report per image.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@click.option("--views", type=click.Choice(["test-time", "single"]), default="test-time", show_default=True,
              help="Prediction protocol: the model's test-time crops, or the single view an explainer explains.")
@quiet_option("No progress and no start-up message on stderr.")
@friendly_errors
def command(images, model_name, weights, model_opts, top_k, as_json, views, quiet):
    """Predict the location of IMAGES (files or folders) with a geolocation model.

    Uses the model's test-time crops (--views single: the one explained view); each JSON object
    records the protocol in "views". A file that cannot be read is reported on one line and
    skipped; the exit status is 1 if any was, or if IMAGES hold no image at all. Progress
    (done/total images) goes to stderr unless --quiet.
    """
    from ..io.images import display_path
    from ..prediction import predict
    from ..progress import Progress

    paths = collect_images(images)
    model = build_model(model_name, weights, model_opts, quiet=quiet)
    failures: list = []
    progress = Progress(len(paths), "predict", enabled=not quiet, bare_counts=True)
    for _, path, image in readable_images(paths, failures, progress):
        (pred,) = predict(model, [image], top_k=top_k, ids=[str(path)], views=views)
        if as_json:
            record = pred.to_dict()
            if getattr(model, "weights_provenance", None):  # hf:// weights: repo, file, commit
                record["weights"] = model.weights_provenance
            click.echo(json.dumps(record))
        else:
            click.echo(f"{display_path(path)}: {pred.label} ({pred.lat:.4f}, {pred.lon:.4f}) "
                       f"p={pred.probability:.3f} [{views} views]")
            for rank, cell in enumerate(pred.top_k[1:], start=2):
                click.echo(f"  {rank}. {cell.label} ({cell.lat:.4f}, {cell.lon:.4f}) p={cell.probability:.3f}")
    if failures:
        raise SystemExit(1)
