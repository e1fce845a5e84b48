"""Prediction, in one place: a GeoModel's scores -> ``GeoPrediction`` objects.

There is one behaviour: a prediction is made from the single view that is explained
(``views="single"``, so the prediction printed beside a map is the map's), unless the caller asks
for the model's test-time crops (``views="test-time"``, averaged probabilities of
``test_time_views``; what ``geoxai predict`` and ``evaluate`` use for the published tables).

    from geoxai.prediction import predict
    predict(model, [rgb_array])                     # the explained view
    predict(model, [rgb_array], views="test-time")  # the test-time crops
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .types import CellScore, GeoPrediction, ImageBatch
from .views import SINGLE, TEST_TIME, check_views

#: ``model`` below is a ``geoxai.GeoModel`` (typed ``Any``: the GeoModel's own ``predict`` alias
#: imports this module, and data flows one way)

def clean_logits(model: Any, images: ImageBatch | torch.Tensor) -> torch.Tensor:
    """The model's scores [B, C] of prepared images, without a graph, in eval mode (restored)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(model.as_input(images))
    finally:
        model.train(was_training)


def test_time_probabilities(model: Any, image: np.ndarray) -> torch.Tensor:
    """Probabilities [C] of one RGB image from the model's test-time views."""
    return views_probabilities(model, model.test_time_views(image))


@torch.no_grad()
def views_probabilities(model: Any, views: torch.Tensor) -> torch.Tensor:
    """Probabilities [C] of one image from its uint8 test-time views [n, 3, S, S]: the mean of the
    views' probabilities, or the model's own ``predict_views`` aggregation where it declares one."""
    x = model.as_input(views)
    aggregate = getattr(model, "predict_views", None)
    if aggregate is not None:  # a plugin's own aggregation (GeoModel no longer has a default)
        return aggregate(x)
    return torch.softmax(model(x), dim=-1).mean(0)


@torch.no_grad()
def predict(model: Any, images: ImageBatch | torch.Tensor | Sequence[np.ndarray], top_k: int = 5,
            ids: Sequence[str] | None = None, views: str = SINGLE) -> list[GeoPrediction]:
    """Predict the cell and location of each image.

    ``views="single"`` (the default): from the one view that is explained; ``"test-time"`` from
    the test-time views, which needs the raw RGB arrays (an ImageBatch holds only the single view).
    Every prediction records its protocol in ``GeoPrediction.views``."""
    views = check_views(views)
    prepared = isinstance(images, (ImageBatch, torch.Tensor))
    if prepared and views == TEST_TIME:
        raise ValueError("predict(views='test-time') needs the raw RGB images: an ImageBatch or tensor "
                         "holds only the single view")
    if ids is None and isinstance(images, ImageBatch):
        ids = images.ids
    was_training = model.training
    model.eval()
    try:
        if isinstance(images, (ImageBatch, torch.Tensor)):
            probs = torch.softmax(clean_logits(model, images), dim=-1)
        elif views == TEST_TIME:
            probs = torch.stack([test_time_probabilities(model, im) for im in images])
        else:
            probs = torch.softmax(clean_logits(model, model.prepare(list(images))), dim=-1)
    finally:
        model.train(was_training)
    return predictions_from_probabilities(model, probs, top_k=top_k, ids=ids, views=views)


def predictions_from_logits(model: Any, logits: torch.Tensor, top_k: int = 5,
                            ids: Sequence[str] | None = None, views: str | None = SINGLE) -> list[GeoPrediction]:
    """GeoPredictions from the clean scores [B, C] of a forward pass made anyway (an explainer's)."""
    return predictions_from_probabilities(model, torch.softmax(logits.detach().float(), dim=-1), top_k, ids, views)


def predictions_from_probabilities(model: Any, probs: torch.Tensor, top_k: int = 5,
                                   ids: Sequence[str] | None = None,
                                   views: str | None = SINGLE) -> list[GeoPrediction]:
    """GeoPredictions from probabilities [B, C] over the model's finest cells; ``views`` records
    the protocol they came from."""
    from .countries import top_countries

    part = model.finest
    k = max(1, min(top_k, probs.shape[-1]))
    values, cells = probs.float().topk(k, dim=-1)
    out = []
    for b in range(probs.shape[0]):
        top = [
            CellScore(int(c), float(v), float(part.lat[c]), float(part.lon[c]), part.label(int(c)))
            for v, c in zip(values[b].tolist(), cells[b].tolist())
        ]
        best = top[0]
        out.append(GeoPrediction(
            cell=best.cell, lat=best.lat, lon=best.lon, label=best.label,
            probability=best.probability, top_k=top,
            image_id=str(ids[b]) if ids is not None else None, views=views,
            top_countries=top_countries(part, probs[b].detach().double().cpu().numpy()),
        ))
    return out
