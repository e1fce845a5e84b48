"""The compute stage: predict, explain, segment and score concepts for a batch of decoded views.

The same ``ReportWorker`` runs in-process for the local engine and once per Ray actor for the
Ray engine, so both engines produce the same rows.
"""
from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np
import torch

from ..blackbox import NoCoordinatesError
from ..geodesy import great_circle_km
from ..pipeline import is_blackbox
from ..types import ImageBatch
from ..views import TEST_TIME
from .config import ReportConfig

SHAPLEY_EXPLAINER = "concept-shap"


def report_model_spec(config: ReportConfig):
    """The config's model: name, options and weights (``geoxai.jobs.models.ModelSpec``)."""
    from ..jobs.models import ModelSpec

    return ModelSpec(config.model, dict(config.model_options), config.weights)


def report_model_options(config: ReportConfig) -> dict[str, Any]:
    """The config's model options, with its weights."""
    return report_model_spec(config).build_options()


def report_view_config(config: ReportConfig):
    """The config's model's ``ViewConfig``, read from its class: no model is built, no weights read."""
    return report_model_spec(config).view_config()


def load_report_model(config: ReportConfig):
    """The config's model with its options and weights, as its plugin builds it."""
    return report_model_spec(config).build()


def report_explainer_options(config: ReportConfig) -> dict[str, Any]:
    """The config's explainer options; an explainer that draws its noise from a generator of its
    own (a ``seed`` option) gets the report's ``--seed`` unless its options name one."""
    from ..plugins import load_explainer, registry

    options = dict(config.explainer_options)
    if "seed" in options:
        return options
    declared = registry().get("explainer", config.explainer).options()  # read from the class: nothing built
    if declared is None:  # a factory taking any keyword: ask the object it builds
        declared = getattr(load_explainer(config.explainer, **options), "defaults", {})
    if "seed" in declared:
        options["seed"] = config.seed
    return options


def load_components(config: ReportConfig, device: str | None = None):
    """Build (model, explainer, segmenter) from a config, on ``device`` (default: CUDA if present).
    A black-box geolocator (``vlm``) with a gradient explainer is refused with the pipeline's line."""
    from ..pipeline import check_pairing, is_blackbox
    from ..plugins import load_explainer, load_segmenter

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_report_model(config)
    model = model.eval() if is_blackbox(model) else model.to(device).eval()  # a black box has no device
    explainer = load_explainer(config.explainer, **report_explainer_options(config))
    check_pairing(model, explainer)
    if is_blackbox(model) and config.views == TEST_TIME:
        raise ValueError(f"--views test-time needs a torch GeoModel's test-time crops; model {config.model!r} is a "
                         "black-box geolocator: use --views single")
    # one device for every stage: Segmenter.to is part of the interface (it used to be skipped
    # silently, so HRNet stayed on the GPU under --device cpu)
    segmenter = load_segmenter(config.segmenter, **config.segmenter_options).to(device)
    return model, explainer, segmenter


def seed_global_torch(seed: int, first_image_id: str) -> None:
    """Seed torch's global generator for the batch that starts with ``first_image_id``."""
    torch.manual_seed((seed * 1_000_003 + zlib.crc32(first_image_id.encode())) % 2**63)


class ReportWorker:
    """Holds one replica of the model, explainer and segmenter; turns records into rows."""

    def __init__(self, config: ReportConfig, shard: str = "0/1", device: str | None = None,
                 components=None) -> None:
        self.config = config
        self.shard = shard
        self.model, self.explainer, self.segmenter = components or load_components(config, device)
        self.concepts = list(self.segmenter.concepts)
        self.cues = set(getattr(self.segmenter, "cue_concepts", ()) or ())
        #: concept Shapley values beside the map's ci (``--shapley``): the report's own explainer
        #: when it is concept-shap, else a concept-shap explainer asked after it
        self.shapley = shapley_explainer(config, self.explainer)
        #: an ``ExampleKeeper`` (or anything with ``wants(image_id, gcd_km)``): the images it wants
        #: get their figure data kept, collected by ``take_examples``
        self.example_filter: Any = None
        self._examples: dict[str, bytes] = {}

    def take_examples(self) -> dict[str, bytes]:
        """Figure data (``examples.example_payload``) by image id, made since the last call."""
        examples, self._examples = self._examples, {}
        return examples

    def process(self, records: list[dict], on_image=None) -> tuple[list[dict], list[dict]]:
        """Decoded records -> (image rows, concept rows) for the store; ``on_image()`` once per
        image as its map is done (on a GPU the batch is explained in one call: its images end
        together). A black-box model's images go one by one; an answer without coordinates makes
        that image's row a failed one."""
        image_rows: list[dict] = []
        concept_rows: list[dict] = []
        good = [r for r in records if r.get("error") is None and r.get("pixels") is not None]
        for r in records:
            if r.get("error") is not None or r.get("pixels") is None:
                image_rows.append(self._row(r, status="failed", error=r.get("error") or "no pixels"))
                if on_image is not None:
                    on_image()
        if good and is_blackbox(self.model):
            # one image at a time: an answer without coordinates fails that image only, and the
            # model calls (not the batch) are the cost
            for record in good:
                try:
                    rows, concepts = self._compute([record])
                except NoCoordinatesError as exc:
                    rows, concepts = [self._row(record, status="failed", error=str(exc))], []
                if on_image is not None:
                    on_image()
                image_rows.extend(rows)
                concept_rows.extend(concepts)
        elif good:
            image_rows_ok, concept_rows = self._compute(good, on_image)
            image_rows.extend(image_rows_ok)
        return image_rows, concept_rows

    def _explain_each(self) -> bool:
        """Explain image by image (progress moves per image) unless the model sits on a GPU, where
        one call for the batch is worth more than a finer count."""
        parameter = next(iter(self.model.parameters()), None) if hasattr(self.model, "parameters") else None
        return parameter is None or parameter.device.type == "cpu"

    def _compute(self, records: list[dict], on_image=None) -> tuple[list[dict], list[dict]]:
        from ..pipeline import ConceptSettings, explain_batch

        pixels = torch.from_numpy(np.stack([np.asarray(r["pixels"], dtype=np.uint8) for r in records]))
        batch = ImageBatch(pixels, [r["image_id"] for r in records])
        # Seeded per batch from the first id, so an explainer that draws from torch's global
        # generator gives the same maps for the same batch whether it runs first, after a resume,
        # in a shard or on a Ray actor. (ig-smoothgrad seeds each image's noise itself, so its
        # rows do not even depend on the batch boundaries.)
        seed_global_torch(self.config.seed, batch.ids[0])
        test_time_views = None
        if self.config.views == TEST_TIME:
            test_time_views = [torch.from_numpy(np.asarray(r["test_time_pixels"], dtype=np.uint8)) for r in records]
        settings = ConceptSettings(k=self.config.k, min_size=self.config.min_size, dilation=self.config.dilation)
        each = self._explain_each()
        # with a second explainer for the Shapley values, an image is done when its values are
        second = self.shapley is not None and self.shapley is not self.explainer
        explanations = explain_batch(self.model, self.explainer, batch, segmenter=self.segmenter, top_k=25,
                                     test_time_views=test_time_views, concepts=settings, explain_each=each,
                                     on_image=on_image if each and not second else None)
        shapley = self._shapley_rows(batch, explanations, each, on_image if each and second else None)
        blackbox = is_blackbox(self.model)
        keys = None if blackbox else self.model.finest.keys
        true_countries = _countries_of([r["lat"] for r in records], [r["lon"] for r in records])
        image_rows, concept_rows = [], []
        for b, (record, explanation) in enumerate(zip(records, explanations)):
            pred = explanation.test_time_prediction or explanation.prediction  # the config's protocol
            image_rows.append(self._row(
                record, status="ok", error=None, pred_cell=pred.cell,
                pred_key=None if keys is None else keys[pred.cell],
                pred_label=pred.label, pred_lat=pred.lat, pred_lon=pred.lon, pred_prob=pred.probability,
                gcd_km=float(great_circle_km(record["lat"], record["lon"], pred.lat, pred.lon)),
                true_country=true_countries[b],
                **(_answer_country_columns(pred) if blackbox else _country_columns(pred)),
                explainer_info=None if explanation.info is None else json.dumps(explanation.info, sort_keys=True),
            ))
            if not each and on_image is not None:
                on_image()
            if self.example_filter is not None and self.example_filter.wants(record["image_id"],
                                                                             image_rows[-1]["gcd_km"]):
                self._keep_example(record, explanation, pred, image_rows[-1])
            by_index = {int(r["concept_index"]): r for r in shapley[b]} if shapley is not None else None
            for concept in explanation.concept_table or []:
                own = None if by_index is None else by_index.get(int(concept["concept_index"]))
                concept_rows.append({"image_id": record["image_id"], "concept": concept["concept"],
                                     "concept_index": concept["concept_index"], "ci": concept["ci"],
                                     "tki": concept["tki"], "size": concept["size"], "valid": concept["valid"],
                                     "cue": concept["concept"] in self.cues,
                                     "shapley": None if own is None else own["shapley"],
                                     "shapley_share": None if own is None else own["share"],
                                     "km_removed": None if own is None else own["km_removed"]})
        return image_rows, concept_rows

    def _shapley_rows(self, batch: ImageBatch, explanations, each: bool = False,
                      on_image=None) -> list[list[dict]] | None:
        """Per image, concept-shap's rows (concept_index, shapley, share, km_removed), or None
        when the report computes no Shapley values; ``each``: image by image, ``on_image()``
        after each."""
        if self.shapley is None:
            return None
        if self.shapley is self.explainer:
            return [list((e.info or {}).get("concepts") or []) for e in explanations]
        segmentation = torch.stack([e.segmentation for e in explanations])
        step = 1 if each else len(batch)
        rows: list[list[dict]] = []
        for start in range(0, len(batch), step):
            part = ImageBatch(batch.pixels[start:start + step], batch.ids[start:start + step])
            attribution = self.shapley.explain_with_info(self.model, part,
                                                         segmentation=segmentation[start:start + step])
            rows += [list(info.get("concepts") or []) for info in attribution.info or []]
            if on_image is not None:
                on_image()
        return rows

    def _keep_example(self, record: dict, explanation, prediction, row: dict) -> None:
        from .example_data import example_payload

        assert explanation.segmentation is not None  # the report always segments
        payload = example_payload(record["image_id"], explanation.view.numpy(),
                                  explanation.map.detach().float().cpu().numpy(), explanation.segmentation.numpy(),
                                  prediction.to_dict(), self.concepts)
        self._examples[record["image_id"]] = payload
        offer = getattr(self.example_filter, "offer", None)
        if offer is not None and getattr(self.example_filter, "folder", None) is None:
            offer(row, payload)  # an in-memory filter (a Ray actor's) learns its candidates here

    def _row(self, record: dict, status: str, error: str | None, **prediction: Any) -> dict:
        row = {"image_id": record["image_id"], "path": record["path"], "lat": record["lat"],
               "lon": record["lon"], "status": status, "error": error, "shard": self.shard}
        row.update(prediction)
        return row


def _countries_of(lat: list[float], lon: list[float]) -> list[str]:
    """The country code of each location (``geoxai.countries.OCEAN`` at sea)."""
    from ..countries import OCEAN, assign_points, countries

    table = countries()
    return [table[i].code if i >= 0 else OCEAN for i in assign_points(lat, lon)]


def shapley_explainer(config: ReportConfig, explainer):
    """The explainer whose info holds concept Shapley values: the report's own (concept-shap), a
    concept-shap with the report's seed when ``config.shapley`` asks for them beside another
    explainer, else None."""
    if getattr(explainer, "name", None) == SHAPLEY_EXPLAINER:
        return explainer
    if not config.shapley:
        return None
    from ..plugins import load_explainer

    return load_explainer(SHAPLEY_EXPLAINER, seed=config.seed)


def _answer_country_columns(prediction) -> dict[str, Any]:
    """A black box's answer has no cell probabilities: the country and continent it lies in."""
    from ..countries import OCEAN, assign_points, countries

    index = int(assign_points([prediction.lat], [prediction.lon])[0])
    if index < 0:
        return {"pred_country": OCEAN, "pred_country_prob": None, "pred_continent": None, "pred_continent_prob": None}
    country = countries()[index]
    return {"pred_country": country.code, "pred_country_prob": None,
            "pred_continent": country.continent, "pred_continent_prob": None}


def _country_columns(prediction) -> dict[str, Any]:
    top = prediction.top_countries or {}
    country = (top.get("countries") or [None])[0]
    continent = (top.get("continents") or [None])[0]
    return {"pred_country": country["code"] if country else None,
            "pred_country_prob": country["probability"] if country else None,
            "pred_continent": continent["name"] if continent else None,
            "pred_continent_prob": continent["probability"] if continent else None}
