"""The central act of geoxai, in one place: photo -> view -> prediction -> target -> map ->
concepts -> ci, as ``Explanation`` objects.

``explain_batch`` is what ``geoxai explain``, the app, the report worker and the quality worker
call; ``geoxai.explain`` is the library's entry point. Writing files is not done here
(``geoxai.io.explanations``).

One clean forward pass per batch serves the prediction, the target binding and the map: an
explainer that computed the clean logits anyway hands them back (``Attribution.logits``);
otherwise the pipeline makes that one no-grad forward itself. The prediction is always of the
explained view (``views="single"``); the test-time crops' prediction is added on request.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .geodesy import great_circle_km
from .interfaces import Explainer, GeoModel, Segmenter
from .prediction import (
    clean_logits,
    predict,
    predictions_from_logits,
    predictions_from_probabilities,
    views_probabilities,
)
from .targets import Target, parse_target
from .types import GeoPrediction, ImageBatch
from .views import SINGLE, TEST_TIME

if TYPE_CHECKING:
    from .ci import ConceptInfluence
    from .masks import ConceptMasks


@dataclass(frozen=True)
class ConceptSettings:
    """How concept influence is scored (``geoxai.ci.concept_influence``)."""

    k: int = 1000
    min_size: float = 0.1
    dilation: int = 0


@dataclass
class Explanation:
    """Everything known about one explained photo.

    ``view`` is the uint8 [3, S, S] view the model saw and the map explains; ``map`` the float
    [S, S] map; ``prediction`` the model's answer for that view; ``explained_cell`` the cell the
    target bound to (None for a region); ``info`` the explainer's per-image facts (e.g.
    completeness); ``segmentation`` concept labels [S, S] (indices into ``concepts``) and ``ci``
    the scored concepts (``ConceptInfluence.records`` rows, highest first) when a segmenter ran;
    ``timings`` seconds per stage (batch stages shared evenly)."""

    id: str
    view: torch.Tensor
    map: torch.Tensor
    prediction: GeoPrediction
    target: str
    path: Path | None = None
    explained_cell: int | None = None
    info: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    segmentation: torch.Tensor | None = None
    concepts: list[str] | None = None
    #: what the segmenter read in its regions, when it says (text: string, score, polygon, script)
    regions: list[dict[str, Any]] | None = None
    ci: list[dict[str, Any]] | None = None
    #: every concept present in the image (also those too small to score: ``valid`` False, ci NaN)
    concept_table: list[dict[str, Any]] | None = None
    ci_settings: ConceptSettings | None = None
    test_time_prediction: GeoPrediction | None = None
    ground_truth: tuple[float, float] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: who made it: model, explainer (with its resolved options), segmenter names
    provenance: dict[str, Any] = field(default_factory=dict)
    #: the model or the segmenter has random weights (``has_random_weights``): figures say its labels mean nothing
    random_weights: bool = False

    @property
    def gcd_km(self) -> float | None:
        """The great-circle error of the prediction, when the ground truth is known."""
        if self.ground_truth is None:
            return None
        return float(great_circle_km(self.prediction.lat, self.prediction.lon, *self.ground_truth))

    def figure(self, path: str | Path) -> Path:
        """Write the explanation figure (``geoxai.viz.figure``) as a PNG."""
        from .viz.explanation_figure import figure_of

        return figure_of(self, path)

    def _repr_png_(self) -> bytes:
        """Jupyter shows the same figure ``geoxai explain`` writes."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            return self.figure(Path(folder) / "figure.png").read_bytes()

    def __repr__(self) -> str:
        p = self.prediction
        return (f"Explanation({self.id!r}, prediction={p.label!r} ({p.lat:.4f}, {p.lon:.4f}) p={p.probability:.3f}, "
                f"target={self.target!r}, map={tuple(self.map.shape)})")


def resolved_options(explainer: Explainer, overrides: dict[str, Any]) -> dict[str, Any]:
    """The options one call runs with: the explainer's defaults < its own options < ``overrides``."""
    resolved = getattr(explainer, "resolved_options", None)
    return resolved(**overrides) if resolved else {**explainer.options, **overrides}


def is_blackbox(model: Any) -> bool:
    """A ``geoxai.blackbox.Geolocator`` that is not a torch GeoModel: it is asked through ``locate``."""
    return hasattr(model, "locate") and not isinstance(model, GeoModel)


def check_pairing(model: Any, explainer: Explainer) -> None:
    """A black-box geolocator can only be explained by a model-agnostic explainer: one line naming both."""
    if is_blackbox(model):
        check_blackbox_pairing(getattr(model, "name", type(model).__name__), explainer)


def check_blackbox_pairing(model_name: str, explainer: Explainer) -> None:
    """``check_pairing`` for a black-box model known by name only (not built yet)."""
    if not getattr(explainer, "model_agnostic", False):
        raise ValueError(
            f"explainer {explainer.name!r} needs gradients or layers of a geoxai GeoModel, but model "
            f"{model_name!r} is a black-box geolocator: choose a model-agnostic explainer (occlusion, rise, "
            "concept-shap)")


def prepare_views(model: Any, images: Sequence[np.ndarray], ids: Sequence[str]) -> ImageBatch:
    """The explained views of RGB uint8 arrays, the model's (or a geolocator's) way."""
    if isinstance(model, GeoModel):
        return model.prepare(list(images), ids)
    return ImageBatch.stack([model.view_config.view(im) for im in images], ids)


def explain_batch(
    model: Any,
    explainer: Explainer,
    images: ImageBatch | Sequence[np.ndarray],
    target: Target | str | None = None,
    segmenter: Segmenter | None = None,
    *,
    options: dict[str, Any] | None = None,
    ids: Sequence[str] | None = None,
    paths: Sequence[Path | None] | None = None,
    top_k: int = 25,
    test_time: bool = False,
    test_time_views: Sequence[torch.Tensor] | None = None,
    concepts: ConceptSettings = ConceptSettings(),
    ground_truth: Sequence[tuple[float, float] | None] | None = None,
    explain_each: bool = False,
    on_image: Callable[[], None] | None = None,
    provenance: dict[str, Any] | None = None,
    logits: torch.Tensor | None = None,
) -> list[Explanation]:
    """Explain one batch: RGB uint8 arrays [H, W, 3] or an ImageBatch of ready views.

    ``explain_each`` calls the explainer image by image (the same maps for explainers that seed
    per image, as the built-ins do) so that ``on_image`` can report progress per photo;
    ``on_image`` is called once per image when its map is done. ``test_time`` adds the prediction
    from the model's test-time crops (needs the raw arrays, or ``test_time_views``: each image's
    uint8 test-time views [n, 3, S, S], decoded beforehand, e.g. by a data loader's workers).
    ``logits`` are the model's clean scores [B, C] on the batch when the caller already has them
    (the predictions are made from them, without another forward pass)."""
    check_pairing(model, explainer)
    options = dict(options or {})
    parsed = parse_target(target)
    raw = None if isinstance(images, ImageBatch) else list(images)
    batch: ImageBatch
    if isinstance(images, ImageBatch):
        batch = images if ids is None else ImageBatch(images.pixels, list(ids))
    else:
        assert raw is not None
        ids = list(ids) if ids is not None else [str(i) for i in range(len(raw))]
        batch = prepare_views(model, raw, ids)
    count = len(batch)
    if logits is not None and logits.shape[0] != count:
        raise ValueError(f"logits has {logits.shape[0]} rows for a batch of {count} images")
    timings: dict[str, float] = {}

    segmentation = masks = None
    if getattr(explainer, "needs_segmentation", False) and segmenter is None:
        raise ValueError(f"explainer {explainer.name!r} scores concepts: it needs a segmenter (--segmenter)")
    if segmenter is not None:
        start = time.perf_counter()
        masks = segmenter.segment_masks(batch)  # possibly overlapping (-s ade20k-hrnet -s text)
        segmentation = masks.labels().cpu()
        timings["segment"] = time.perf_counter() - start
    if getattr(explainer, "needs_segmentation", False):
        options["segmentation"] = segmentation

    start = time.perf_counter()
    maps, infos, explained_logits, explain_times = _explain(model, explainer, batch, parsed, options, explain_each,
                                                            on_image)
    if logits is None:
        logits = explained_logits
    timings["explain"] = time.perf_counter() - start

    start = time.perf_counter()
    if is_blackbox(model):
        predictions, cells = _located(model, batch, infos), None
    else:
        if logits is None:  # the explainer did not hand back its clean forward: the batch's one forward
            logits = clean_logits(model, batch)
        predictions = predictions_from_logits(model, logits, top_k=top_k, ids=batch.ids, views=SINGLE)
        bound = parsed.bind(model, logits)
        cells = None if bound.cells is None else bound.cells.tolist()
    test_time_predictions = None
    if test_time_views is not None:
        probs = torch.stack([views_probabilities(model, v) for v in test_time_views])
        test_time_predictions = predictions_from_probabilities(model, probs, top_k, batch.ids, views=TEST_TIME)
    elif test_time:
        if raw is None or is_blackbox(model):
            raise ValueError("the test-time prediction needs the raw photos and a GeoModel")
        test_time_predictions = predict(model, raw, top_k=top_k, ids=batch.ids, views=TEST_TIME)
    timings["predict"] = time.perf_counter() - start

    records = tables = None
    if masks is not None and segmenter is not None:
        start = time.perf_counter()
        records, tables = _concept_records(maps, masks, list(segmenter.concepts), batch.ids, concepts)
        timings["ci"] = time.perf_counter() - start

    from .plugins import has_random_weights

    random_weights = has_random_weights(model) or has_random_weights(segmenter)
    out = []
    for i in range(count):
        info = infos[i] if infos is not None else None
        own = {stage: seconds / count for stage, seconds in timings.items()}
        if explain_times is not None:
            own["explain"] = explain_times[i]
        out.append(Explanation(
            id=batch.ids[i], view=batch.pixels[i].cpu(), map=maps[i], prediction=predictions[i], target=str(parsed),
            path=_path(paths, i),
            explained_cell=None if cells is None else int(cells[i]), info=info,
            warnings=[str(w) for w in (info or {}).get("warnings", [])],
            segmentation=None if segmentation is None else segmentation[i],
            concepts=None if segmenter is None else list(segmenter.concepts),
            regions=None if masks is None or masks.regions is None else masks.regions[i],
            ci=None if records is None else records[i], ci_settings=None if records is None else concepts,
            concept_table=None if tables is None else tables[i],
            test_time_prediction=None if test_time_predictions is None else test_time_predictions[i],
            ground_truth=None if ground_truth is None else ground_truth[i],
            timings=own, provenance=dict(provenance or {}), random_weights=random_weights,
        ))
    return out


def _path(paths: Sequence[Path | None] | None, i: int) -> Path | None:
    value = None if paths is None else paths[i]
    return None if value is None else Path(value)


def _explain(model, explainer: Explainer, batch: ImageBatch, target: Target, options: dict[str, Any],
             each: bool, on_image: Callable[[], None] | None):
    """(maps, infos or None, logits or None, per-image seconds or None) of the whole batch."""
    if not each:
        attribution = explainer.explain_with_info(model, batch, target, **options)
        if on_image is not None:
            for _ in range(len(batch)):
                on_image()
        return attribution.maps, attribution.info, attribution.logits, None
    parts, seconds = [], []
    for i in range(len(batch)):
        start = time.perf_counter()
        one = {**options}
        if "segmentation" in one and one["segmentation"] is not None:
            one["segmentation"] = one["segmentation"][i:i + 1]
        parts.append(explainer.explain_with_info(model, ImageBatch(batch.pixels[i:i + 1], batch.ids[i:i + 1]),
                                                 target, **one))
        seconds.append(time.perf_counter() - start)
        if on_image is not None:
            on_image()
    maps = torch.cat([p.maps for p in parts])
    infos = [p.info[0] for p in parts if p.info is not None]
    logits = [p.logits for p in parts if p.logits is not None]
    complete_infos = infos if len(infos) == len(parts) else None
    return maps, complete_infos, torch.cat(logits) if len(logits) == len(parts) else None, seconds


def _located(model, batch: ImageBatch, infos: list[dict[str, Any]] | None = None) -> list[GeoPrediction]:
    """A black-box geolocator's answers as predictions (no cell: ``cell=-1``). A perturbation
    explainer already asked for the clean answers (``info["answer"]``): no second call for them."""
    from .blackbox import no_coordinates

    if infos is not None and all(isinstance(i.get("answer"), dict) for i in infos):
        answers = [(a["lat"], a["lon"], a.get("confidence"), a.get("answer"), a.get("error"))
                   for a in (i["answer"] for i in infos)]
    else:
        answers = [(a.lat, a.lon, a.confidence, a.answer, getattr(a, "meta", {}).get("error"))
                   for a in model.locate(batch)]
    out = []
    for image_id, (lat, lon, confidence, text, error) in zip(batch.ids, answers):
        if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):  # NaN: a failed answer
            raise no_coordinates(image_id, text, error)
        label = text or f"{lat:.4f}, {lon:.4f}"
        out.append(GeoPrediction(cell=-1, lat=float(lat), lon=float(lon), label=label,
                                 probability=float("nan") if confidence is None else float(confidence),
                                 image_id=image_id, views=SINGLE))
    return out


def _concept_records(maps: torch.Tensor, segmentation: torch.Tensor | ConceptMasks, concepts: list[str],
                     ids: Sequence[str], settings: ConceptSettings
                     ) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """Per image: its scored concepts (highest ci first), and every concept present in it."""
    from .ci import concept_influence

    result: ConceptInfluence = concept_influence(maps.detach().float().cpu(), segmentation, k=settings.k,
                                                 min_size=settings.min_size, dilation=settings.dilation,
                                                 num_concepts=len(concepts))
    scored: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in result.records(concepts, list(ids)):
        scored[row["image_id"]].append(row)
    ci, tki = result.ci.numpy(), result.tki.numpy()
    size, valid = result.size.numpy(), result.valid.numpy()
    present = result.concept_pixels.numpy() > 0  # pixels of its own (a dilated mask may reach beyond them)
    tables = [[{"concept": concepts[c], "concept_index": int(c), "ci": float(ci[b, c]), "tki": float(tki[b, c]),
                "size": float(size[b, c]), "valid": bool(valid[b, c])} for c in np.flatnonzero(present[b])]
              for b in range(len(ids))]
    return [scored[i] for i in ids], tables


def explain(photos: Any, model: Any, explainer: Any = "ig-smoothgrad", segmenter: Any = None,
            target: Target | str | None = None, *, truth: tuple[float, float] | None = None, top_k: int = 25,
            test_time: bool = False, concepts: ConceptSettings = ConceptSettings(),
            model_options: dict[str, Any] | None = None, segmenter_options: dict[str, Any] | None = None,
            **options: Any) -> Explanation | list[Explanation]:
    """Explain a photo (a path, an RGB uint8 array) or several (a list, an ImageBatch).

    ``model``, ``explainer`` and ``segmenter`` are plugin names (built with ``model_options``,
    ``options`` and ``segmenter_options``) or ready objects. Returns one ``Explanation`` for one
    photo, a list for several. In Jupyter an Explanation shows its figure."""
    from . import plugins
    from .io.images import load_image

    single = not isinstance(photos, (list, tuple, ImageBatch))
    items = [photos] if single else photos
    names = {"model": model if isinstance(model, str) else getattr(model, "name", "model"),
             "explainer": explainer if isinstance(explainer, str) else getattr(explainer, "name", "explainer")}
    if isinstance(model, str):
        model = plugins.load_model(model, **(model_options or {}))
    if isinstance(explainer, str):
        explainer = plugins.load_explainer(explainer)
    if isinstance(segmenter, str):
        names["segmenter"] = segmenter
        segmenter = plugins.load_segmenter(segmenter, **(segmenter_options or {}))
    paths: list[Path | None] | None = None
    ids: list[str] | None = None
    if not isinstance(items, ImageBatch):
        from .naming import unique_stems

        paths = [Path(p) if isinstance(p, (str, Path)) else None for p in items]
        arrays = [load_image(p) if isinstance(p, (str, Path)) else np.asarray(p) for p in items]
        named = [p for p in paths if p is not None]
        stems = iter(unique_stems(named)) if len(named) == len(paths) else None
        ids = [next(stems) if stems is not None else str(i) for i in range(len(arrays))]
        items = arrays
    provenance = {**names, "options": resolved_options(explainer, options)}
    result = explain_batch(model, explainer, items, target, segmenter, options=options, ids=ids, paths=paths,
                           top_k=top_k, test_time=test_time, concepts=concepts,
                           ground_truth=None if truth is None else [truth] * len(items), provenance=provenance)
    return result[0] if single else result
