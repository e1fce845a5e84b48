"""``geoxai explain``: explanation maps for photos, through ``geoxai.pipeline``, written by
``geoxai.io.explanations`` as .npy + overlay .png + figure .png + .json; with ``--segmenter`` also
concept-influence scores, and (``--map``) the world map."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..naming import unique_stems
from . import _options as opts
from ._common import announce, collect_images, friendly_errors, plugin_options


def parse_truth(text: str | None) -> tuple[float, float] | None:
    """'LAT,LON' -> (lat, lon), validated."""
    from ..geodesy import validate_coordinates

    if text is None:
        return None
    parts = text.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--truth must be LAT,LON in degrees (e.g. 41.39,2.17), got {text!r}") from None
    validate_coordinates(lat, lon, "--truth")
    return lat, lon


def explainer_options(explainer, overrides: dict[str, Any]) -> dict[str, Any]:
    from ..pipeline import resolved_options

    return resolved_options(explainer, overrides)


@click.command("explain")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@opts.model_options()
@opts.explainer_options(default="ig-smoothgrad", primary=True)
@click.option("--target", "-t", default="predicted", show_default=True,
              help="What to explain: predicted, cell:N, region:NODE, within:LAT,LON,KM, cells:I,J, "
                   "country:CODE_OR_NAME or continent:NAME.")
@opts.batch_size_option(8, help="Images loaded, predicted and segmented together (the explainer runs photo by "
                                "photo, so the progress advances per photo).")
@opts.out_option(required=True)
@opts.segmenter_options(help="Segmenter name: adds concepts and concept-influence scores to each JSON and figure.",
                        combine=True)
@opts.ci_options
@click.option("--truth", default=None, metavar="LAT,LON",
              help="Ground-truth location of the photo(s): adds the GCD error to the JSON, figure and map.")
@click.option("--test-time", "test_time", is_flag=True,
              help="Also predict with the model's test-time crops: adds test_time_prediction to each JSON "
                   "(prediction is always the single view the map explains).")
@click.option("--map", "world_map", type=click.Choice(["none", "world", "zoom"]), default="none", show_default=True,
              help="Also write <stem>_map.png: the top-25 cells on a world map (zoom: the region around them).")
@click.option("--no-figure", "no_figure", is_flag=True, help="Do not write <stem>_figure.png.")
@opts.quiet_option("No progress and no start-up messages on stderr.")
@friendly_errors
def command(images, model_name, weights, model_opts, explainer_name, explainer_opts, target, batch_size, out_dir,
            segmenter_name, segmenter_opts, k, min_size, dilation, truth, world_map, test_time, no_figure, quiet):
    """Explain where MODEL put each IMAGE (files or folders).

    Writes per image <stem>_figure.png (the photo, the map with its colour bar, the prediction,
    the target and the top cells on a world map; with --segmenter also the concepts and their ci
    scores; --no-figure skips it), <stem>.npy (raw map at the model input size),
    <stem>_overlay.png (the map over the explained view) and <stem>.json (the single-view
    prediction of the explained view, target, explainer and options; --test-time adds the
    test-time-crops prediction). Progress (done/total photos) goes to stderr unless --quiet. An
    unreadable image gets a one-line error; the others are still explained, and the exit status
    is 1 at the end.
    """
    from ..blackbox import NoCoordinatesError
    from ..io.explanations import write_explanation
    from ..io.images import ImageError, display_path, load_image
    from ..pipeline import ConceptSettings, check_pairing, explain_batch, is_blackbox
    from ..plugins import load_explainer, load_model
    from ..progress import Progress
    from ..targets import parse_target

    parsed_target = parse_target(target)
    paths = collect_images(images)
    ground_truth = parse_truth(truth)
    if segmenter_name is None and segmenter_opts:
        raise ValueError("--segmenter-option needs --segmenter")
    model_kwargs = plugin_options("model", model_name, model_opts)
    if weights is not None:
        model_kwargs["weights"] = str(weights)
    explainer_opts = plugin_options("explainer", explainer_name, explainer_opts)
    segmenter_kwargs = plugin_options("segmenter", segmenter_name, segmenter_opts) if segmenter_name else {}
    announce("model", model_name, quiet)
    model = load_model(model_name, **model_kwargs)
    explainer = load_explainer(explainer_name)
    check_pairing(model, explainer)
    black_box = is_blackbox(model)
    segmenter = None
    if segmenter_name is not None:
        from ..plugins import load_segmenter

        announce("segmenter", segmenter_name, quiet)
        segmenter = load_segmenter(segmenter_name, **segmenter_kwargs)
    provenance = {"model": model_name, "explainer": explainer_name, "segmenter": segmenter_name,
                  "options": explainer_options(explainer, explainer_opts)}
    meta = {"weights": model.weights_provenance} if getattr(model, "weights_provenance", None) else {}
    settings = ConceptSettings(k=k, min_size=min_size, dilation=dilation)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = unique_stems(paths, separator="_")
    failures = written = 0
    with Progress(len(paths), "explain", enabled=not quiet, bare_counts=True) as progress:
        for start in range(0, len(paths), batch_size):
            loaded, ok_paths, ok_stems = [], [], []
            for path, stem in zip(paths[start:start + batch_size], stems[start:start + batch_size]):
                try:
                    loaded.append(load_image(path))
                except ImageError as exc:  # one line, naming the file (escaped)
                    failures += 1
                    progress.error(f"error: {exc}")
                    progress.advance()
                    continue
                ok_paths.append(path)
                ok_stems.append(stem)
            if not loaded:
                continue
            # a black box is explained photo by photo: an answer without coordinates stops only its photo
            groups = [([im], [p], [s]) for im, p, s in zip(loaded, ok_paths, ok_stems)] if black_box \
                else [(loaded, ok_paths, ok_stems)]
            explanations = []
            for group_images, group_paths, group_stems in groups:
                try:
                    explanations += explain_batch(
                        model, explainer, group_images, parsed_target, segmenter, options=explainer_opts,
                        ids=group_stems, paths=group_paths, top_k=25, test_time=test_time and not black_box,
                        concepts=settings, explain_each=True, on_image=progress.advance, provenance=provenance,
                        ground_truth=None if ground_truth is None else [ground_truth] * len(group_images))
                except NoCoordinatesError as exc:
                    failures += 1
                    progress.error(f"error: {exc}")
                    progress.advance()
            for explanation in explanations:
                write_explanation(out_dir, explanation, figure=not no_figure, world_map=world_map, meta=meta)
                written += 1
    failed = f"; {failures} failed" if failures else ""
    click.echo(f"explained {written} image(s) into {display_path(out_dir)}{failed}")
    if failures:
        sys.exit(1)
