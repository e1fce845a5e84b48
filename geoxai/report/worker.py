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

from ..geodesy import great_circle_km
from ..types import ImageBatch
from ..views import TEST_TIME
from .config import ReportConfig


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
    """Build (model, explainer, segmenter) from a config, on ``device`` (default: CUDA if present)."""
    from ..plugins import load_explainer, load_segmenter

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_report_model(config).to(device).eval()
    explainer = load_explainer(config.explainer, **report_explainer_options(config))
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
        image as its rows are done (the batch is explained at once: its images end together)."""
        image_rows: list[dict] = []
        concept_rows: list[dict] = []
        good = [r for r in records if r.get("error") is None and r.get("pixels") is not None]
        for r in records:
            if r.get("error") is not None or r.get("pixels") is None:
                image_rows.append(self._row(r, status="failed", error=r.get("error") or "no pixels"))
                if on_image is not None:
                    on_image()
        if good:
            image_rows_ok, concept_rows = self._compute(good)
            image_rows.extend(image_rows_ok)
            for _ in image_rows_ok:
                if on_image is not None:
                    on_image()
        return image_rows, concept_rows

    def _compute(self, records: list[dict]) -> tuple[list[dict], list[dict]]:
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
        explanations = explain_batch(self.model, self.explainer, batch, segmenter=self.segmenter, top_k=25,
                                     test_time_views=test_time_views, concepts=settings)
        keys = self.model.finest.keys
        true_countries = _countries_of([r["lat"] for r in records], [r["lon"] for r in records])
        image_rows, concept_rows = [], []
        for b, (record, explanation) in enumerate(zip(records, explanations)):
            pred = explanation.test_time_prediction or explanation.prediction  # the config's protocol
            image_rows.append(self._row(
                record, status="ok", error=None, pred_cell=pred.cell, pred_key=keys[pred.cell],
                pred_label=pred.label, pred_lat=pred.lat, pred_lon=pred.lon, pred_prob=pred.probability,
                gcd_km=float(great_circle_km(record["lat"], record["lon"], pred.lat, pred.lon)),
                true_country=true_countries[b], **_country_columns(pred),
                explainer_info=None if explanation.info is None else json.dumps(explanation.info, sort_keys=True),
            ))
            if self.example_filter is not None and self.example_filter.wants(record["image_id"],
                                                                             image_rows[-1]["gcd_km"]):
                self._keep_example(record, explanation, pred, image_rows[-1])
            for concept in explanation.concept_table or []:
                concept_rows.append({"image_id": record["image_id"], "concept": concept["concept"],
                                     "concept_index": concept["concept_index"], "ci": concept["ci"],
                                     "tki": concept["tki"], "size": concept["size"], "valid": concept["valid"]})
        return image_rows, concept_rows

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


def _country_columns(prediction) -> dict[str, Any]:
    top = prediction.top_countries or {}
    country = (top.get("countries") or [None])[0]
    continent = (top.get("continents") or [None])[0]
    return {"pred_country": country["code"] if country else None,
            "pred_country_prob": country["probability"] if country else None,
            "pred_continent": continent["name"] if continent else None,
            "pred_continent_prob": continent["probability"] if continent else None}
