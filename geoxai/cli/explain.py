"""``geoxai explain``: explanation maps for photos, written as .npy + overlay .png + .json; with
``--segmenter`` also concept-influence scores, the explanation figure and (``--map``) the world map."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from ..io.atomic import atomic_path, write_text_atomic
from ..views import SINGLE, TEST_TIME
from . import _options as opts
from ._common import collect_images, friendly_errors, plugin_options, unique_stems

if TYPE_CHECKING:  # torch is imported when a command runs, so `geoxai --help` stays fast
    import torch


@dataclass
class ImageRecord:
    """Everything known about one explained image; ``extra`` is where later stages (e.g. a
    segmenter) add their results before writing."""

    stem: str
    path: Path
    view: torch.Tensor          # uint8 [3, S, S], the explained view
    heat: torch.Tensor          # float32 [S, S], the raw map
    prediction: dict[str, Any]
    explained_cell: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def explain_batch(model, explainer, images: list[np.ndarray], paths: list[Path], stems: list[str],
                  target, options: dict[str, Any], top_k: int = 5, test_time: bool = False) -> list[ImageRecord]:
    """Explain one batch of loaded RGB images; returns one record per image.

    The record's ``prediction`` is the single-view prediction, of the very view the map explains;
    with ``test_time`` the test-time-crops prediction is added as ``test_time_prediction``."""
    import torch

    batch = model.prepare(images, ids=stems)
    maps = explainer.explain(model, batch, target, **options)
    from ..interfaces import explanation_info  # imports torch: not at module level (fast --help)

    predictions = model.predict(batch, top_k=top_k, ids=stems, views=SINGLE)
    extras: list[dict[str, Any]] = [{} for _ in stems]
    infos = explanation_info(explainer, len(stems))
    if infos is not None:
        for extra, info in zip(extras, infos):
            extra["explainer_info"] = info
    if test_time:
        for extra, pred in zip(extras, model.predict(images, top_k=top_k, ids=stems, views=TEST_TIME)):
            extra["test_time_prediction"] = pred.to_dict()
    cells = None
    cell_fn = getattr(target, "cells", None)
    if cell_fn is not None:
        with torch.no_grad():
            picked = target.cells(model, model(model.as_input(batch)))
        cells = None if picked is None else picked.tolist()
    return [
        ImageRecord(stem=stem, path=path, view=batch.pixels[i], heat=maps[i], prediction=predictions[i].to_dict(),
                    explained_cell=None if cells is None else int(cells[i]), extra=extras[i])
        for i, (stem, path) in enumerate(zip(stems, paths))
    ]



def write_record(out_dir: Path, record: ImageRecord, meta: dict[str, Any]) -> None:
    """``<stem>.npy``, ``<stem>_overlay.png``, ``<stem>.json``, each written atomically."""
    from ..viz.overlay import save_overlay

    heat = record.heat.numpy().astype(np.float32)
    with atomic_path(out_dir / f"{record.stem}.npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, heat)
    save_overlay(out_dir / f"{record.stem}_overlay.png", record.view, heat)
    doc = {
        "image": str(record.path),
        **meta,
        "explained_cell": record.explained_cell,
        "prediction": record.prediction,
        "map": {"file": f"{record.stem}.npy", "shape": list(heat.shape),
                "min": float(heat.min()), "max": float(heat.max())},
        **record.extra,
    }
    text = json.dumps(doc, indent=2, default=str)
    write_text_atomic(out_dir / f"{record.stem}.json", text)


@dataclass
class ConceptStage:
    """The optional stage after explaining: segment the explained views, score concept influence,
    draw the explanation figure and/or the world map, and put the scores into each record's JSON."""

    segmenter: Any = None
    segmenter_name: str | None = None
    k: int = 1000
    min_size: float = 0.1
    dilation: int = 0
    truth: tuple[float, float] | None = None
    world_map: str = "none"  # none | world | zoom
    explainer_name: str | None = None  # names the figure's colour bar where the map needs it (lrp)

    def apply(self, out_dir: Path, records: list[ImageRecord]) -> None:
        from ..geodesy import great_circle_km
        from ..types import CellScore, GeoPrediction

        predictions = []
        for record in records:
            doc = dict(record.prediction)
            doc["top_k"] = [CellScore(**c) for c in doc.get("top_k", [])]
            predictions.append(GeoPrediction(**doc))
            if self.truth is not None:
                record.extra["ground_truth"] = {
                    "lat": self.truth[0], "lon": self.truth[1],
                    "gcd_km": float(great_circle_km(doc["lat"], doc["lon"], self.truth[0], self.truth[1])),
                }
        if self.segmenter is not None:
            self._concepts(out_dir, records, predictions)
        if self.world_map != "none":
            from ..viz.worldmap import world_map

            for record, prediction in zip(records, predictions):
                world_map(prediction, out_dir / f"{record.stem}_map.png", ground_truth=self.truth,
                          zoom=self.world_map == "zoom")
                record.extra.setdefault("files", {})["map"] = f"{record.stem}_map.png"

    def _concepts(self, out_dir: Path, records: list[ImageRecord], predictions) -> None:
        import torch

        from ..ci import concept_influence
        from ..types import ImageBatch
        from ..viz.figure import explanation_figure, map_label

        batch = ImageBatch(torch.stack([r.view for r in records]), [r.stem for r in records])
        segmentation = self.segmenter.segment(batch).cpu()
        concepts = list(self.segmenter.concepts)
        heat = torch.stack([r.heat for r in records]).float()
        result = concept_influence(heat, segmentation, k=self.k, min_size=self.min_size, dilation=self.dilation,
                                   num_concepts=len(concepts))
        rows = result.records(concepts, batch.ids)
        for i, record in enumerate(records):
            scores = [{key: row[key] for key in ("concept", "concept_index", "rank", "ci", "tki", "size",
                                                   "mask_pixels", "intersection_pixels")}
                      for row in rows if row["image_id"] == record.stem]
            record.extra["concept_influence"] = {
                "segmenter": self.segmenter_name, "k": int(result.k[i]), "min_size": self.min_size,
                "dilation": self.dilation, "scores": scores,
            }
            explanation_figure(record.view.permute(1, 2, 0).numpy(), record.heat, segmentation[i], concepts, scores,
                               predictions[i], ground_truth=self.truth, k=self.k,
                               path=out_dir / f"{record.stem}_figure.png",
                               colorbar_label=map_label(self.explainer_name))
            record.extra.setdefault("files", {})["figure"] = f"{record.stem}_figure.png"


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
    resolved = getattr(explainer, "resolved_options", None)
    return resolved(**overrides) if resolved else {**explainer.options, **overrides}


@click.command("explain")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@opts.model_options()
@opts.explainer_options(default="ig-smoothgrad", primary=True)
@click.option("--target", "-t", default="predicted", show_default=True,
              help="What to explain: predicted, cell:N, region:NODE, within:LAT,LON,KM, cells:I,J, "
                   "country:CODE_OR_NAME or continent:NAME.")
@opts.batch_size_option(8, help="Images explained together.")
@opts.out_option(required=True)
@opts.segmenter_options(help="Segmenter name: adds concept-influence scores to each JSON and writes <stem>_figure.png.")
@opts.ci_options
@click.option("--truth", default=None, metavar="LAT,LON",
              help="Ground-truth location of the photo(s): adds the GCD error to the JSON, figure and map.")
@click.option("--test-time", "test_time", is_flag=True,
              help="Also predict with the model's test-time crops: adds test_time_prediction to each JSON "
                   "(prediction is always the single view the map explains).")
@click.option("--map", "world_map", type=click.Choice(["none", "world", "zoom"]), default="none", show_default=True,
              help="Also write <stem>_map.png: the top-25 cells on a world map (zoom: the region around them).")
@friendly_errors
def command(images, model_name, weights, model_opts, explainer_name, explainer_opts, target, batch_size, out_dir,
            segmenter_name, segmenter_opts, k, min_size, dilation, truth, world_map, test_time):
    """Explain where MODEL put each IMAGE (files or folders).

    Writes per image <stem>.npy (raw map at the model input size), <stem>_overlay.png (the map
    over the explained view) and <stem>.json (the single-view prediction of the explained view,
    target, explainer and options; --test-time adds the test-time-crops prediction). With
    --segmenter, the JSON also holds the concept-influence (ci) scores and <stem>_figure.png shows
    view, map, top-k pixels, segmentation, ci scores and the world map. An unreadable image gets a
    one-line error; the others are still explained, and the exit status is 1 at the end.
    """
    from ..io.images import ImageError, display_path, load_image
    from ..plugins import load_explainer, load_model
    from ..targets import parse_target

    parsed_target = parse_target(target)
    paths = collect_images(images)
    model_kwargs = plugin_options("model", model_name, model_opts)
    if weights is not None:
        model_kwargs["weights"] = str(weights)
    model = load_model(model_name, **model_kwargs)
    explainer_opts = plugin_options("explainer", explainer_name, explainer_opts)
    explainer = load_explainer(explainer_name)
    stage = ConceptStage(k=k, min_size=min_size, dilation=dilation, truth=parse_truth(truth), world_map=world_map,
                         explainer_name=explainer_name)
    if segmenter_name is not None:
        from ..plugins import load_segmenter

        stage.segmenter = load_segmenter(segmenter_name, **plugin_options("segmenter", segmenter_name,
                                                                           segmenter_opts))
        stage.segmenter_name = segmenter_name
    elif segmenter_opts:
        raise ValueError("--segmenter-option needs --segmenter")
    needs_stage = segmenter_name is not None or world_map != "none" or truth is not None
    meta = {
        "model": model_name,
        "explainer": explainer_name,
        "options": explainer_options(explainer, explainer_opts),
        "target": str(parsed_target),
        "views": SINGLE,
    }
    if getattr(model, "weights_provenance", None):  # hf:// weights: repo, file and the commit used
        meta["weights"] = model.weights_provenance
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = unique_stems(paths, separator="_")
    failures = written = 0
    for start in range(0, len(paths), batch_size):
        loaded, ok_paths, ok_stems = [], [], []
        for path, stem in zip(paths[start:start + batch_size], stems[start:start + batch_size]):
            try:
                loaded.append(load_image(path))
            except ImageError as exc:  # one line, naming the file (escaped)
                failures += 1
                click.echo(f"error: {exc}", err=True)
                continue
            ok_paths.append(path)
            ok_stems.append(stem)
        if not loaded:
            continue
        records = explain_batch(model, explainer, loaded, ok_paths, ok_stems, parsed_target, explainer_opts,
                                top_k=25 if needs_stage else 5, test_time=test_time)
        if needs_stage:
            stage.apply(out_dir, records)
        for record in records:
            write_record(out_dir, record, meta)
            written += 1
    failed = f"; {failures} failed" if failures else ""
    click.echo(f"explained {written} image(s) into {display_path(out_dir)}{failed}")
    if failures:
        sys.exit(1)
