"""Black-box geolocators: anything that maps photos to coordinates, with or without gradients.

A ``Geolocator`` answers ``locate(images) -> list[GeoAnswer]``: a latitude/longitude, an optional
confidence, the raw answer (a VLM's text) and free ``meta`` (calls, tokens, latency). Model-agnostic
explainers (``occlusion``, ``rise``, ``concept-shap``; ``model_agnostic = True``) need nothing else.
``as_geolocator(model)`` adapts any torch ``GeoModel``: the answer is the centre of its top cell and
the confidence that cell's probability, so the same explainers run on s2, SemP or ``tiny`` (which is
how they are tested against captum).

An answer that holds no coordinates is a ``GeoAnswer`` with ``lat``/``lon`` NaN and
``meta["error"]`` saying why (``ok`` is False): one image's bad answer never stops the others.
"""
from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .views import ViewConfig

if TYPE_CHECKING:
    from .interfaces import GeoModel
    from .types import GeoPrediction, ImageBatch

__all__ = ["GeoAnswer", "Geolocator", "GeolocatorError", "NoCoordinatesError", "TorchGeolocator", "as_geolocator",
           "is_geolocator"]


class GeolocatorError(RuntimeError):
    """The geolocator cannot answer at all (a refused key, an unreachable server): stops the run."""


class NoCoordinatesError(ValueError):
    """One image's answer held no coordinates (a one-line message naming the image)."""


@dataclass
class GeoAnswer:
    """One image's answer: where, how sure (None: not reported), the raw answer and facts about it."""

    lat: float
    lon: float
    confidence: float | None = None
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the answer holds coordinates."""
        return math.isfinite(self.lat) and math.isfinite(self.lon)

    @classmethod
    def failed(cls, answer: str | None, error: str, **meta: Any) -> GeoAnswer:
        return cls(math.nan, math.nan, None, answer, {"error": error, **meta})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, without the per-token log-probabilities (``meta["tokens"]``)."""
        meta = {k: v for k, v in self.meta.items() if k != "tokens"}
        return {"lat": self.lat if self.ok else None, "lon": self.lon if self.ok else None,
                "confidence": self.confidence, "answer": self.answer, **meta}


class Geolocator(abc.ABC):
    """A photo geolocator seen from outside: photos in, coordinates out.

    ``view_config`` says how a photo is resized before it is sent (the explained view); an
    implementation declares it on the class or computes it in ``view_config_for(**options)``,
    like a ``GeoModel``, so the registry can read it without building the geolocator."""

    name: str = "geolocator"
    view_config: ViewConfig = ViewConfig()

    @classmethod
    def view_config_for(cls, **options: Any) -> ViewConfig:
        return cls.view_config

    @abc.abstractmethod
    def locate(self, images: ImageBatch) -> list[GeoAnswer]:
        """One answer per image of ``images`` (uint8 views), in order."""

    def prepare(self, images: Sequence[np.ndarray], ids: Sequence[str] | None = None) -> ImageBatch:
        from .types import ImageBatch

        return ImageBatch.stack([self.view_config.view(im) for im in images], ids)

    def eval(self) -> Geolocator:
        """Nothing to switch (``load_model`` calls it on every model)."""
        return self

    def prediction(self, answer: GeoAnswer, image_id: str | None = None) -> GeoPrediction:
        """A ``GeoPrediction`` of an answer (cell -1: a black box has no cells)."""
        from .types import GeoPrediction

        return GeoPrediction(cell=-1, lat=answer.lat, lon=answer.lon, label=answer.answer or "",
                             probability=math.nan if answer.confidence is None else answer.confidence,
                             image_id=image_id, views="single")


class TorchGeolocator(Geolocator):
    """A torch ``GeoModel`` as a black box: the centre of the top cell, its probability as confidence."""

    def __init__(self, model: GeoModel) -> None:
        self.model = model
        self.name = model.name
        self.view_config = model.view_config

    def locate(self, images: ImageBatch) -> list[GeoAnswer]:
        import torch

        x = self.model.as_input(images)
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), x.dtype)
        with torch.no_grad():
            logits = self.model(x.to(dtype))
        return answers_from_logits(self.model, logits)


def answers_from_logits(model: GeoModel, logits: Any) -> list[GeoAnswer]:
    """The top cell's centre and probability of each row of ``logits`` [B, C]."""
    import torch

    probs = torch.softmax(logits.detach().double(), dim=1)
    best, cells = probs.max(dim=1)
    part = model.finest
    return [GeoAnswer(float(part.lat[c]), float(part.lon[c]), float(p), part.label(int(c)), {"cell": int(c)})
            for p, c in zip(best.tolist(), cells.tolist())]


def is_geolocator(model: Any) -> bool:
    """A black box that is not a torch GeoModel (it predicts through ``locate``)."""
    return isinstance(model, Geolocator)


def as_geolocator(model: GeoModel | Geolocator) -> Geolocator:
    """``model`` itself if it is a Geolocator, else the torch model wrapped as one."""
    return model if isinstance(model, Geolocator) else TorchGeolocator(model)


def check_answer(answer: GeoAnswer, image_id: str) -> GeoAnswer:
    """``answer`` if it holds coordinates, else a one-line ``NoCoordinatesError`` naming the image."""
    if not answer.ok:
        raise no_coordinates(image_id, answer.answer, answer.meta.get("error"))
    return answer


def no_coordinates(image_id: str, answer: str | None, error: str | None = None) -> NoCoordinatesError:
    """The one-line error for an image whose answer holds no coordinates (the answer shortened)."""
    text = (answer or "").replace("\n", " ").strip()
    shown = (text[:80] + "...") if len(text) > 80 else text
    return NoCoordinatesError(f"image {image_id!r}: {error or 'no coordinates'} (answer: {shown!r})")


def km_from_target(lat: Any, lon: Any, target: Any, reference: tuple[float, float] | None,
                   model: GeoModel | Geolocator | None = None) -> np.ndarray:
    """float64 [N]: how far answers (``lat``, ``lon``) lie from what is explained, in km (NaN stays NaN).

    * the predicted answer (``predicted``): the distance to ``reference``, the clean image's answer;
    * ``within:LAT,LON,KM``: the distance to the circle (0 inside);
    * ``country:`` / ``continent:``: the distance to the shape (0 inside, Natural Earth);
    * a torch model's cell targets (``cell:``, ``cells:``, ``region:``): the distance to the nearest
      centre of those cells."""
    from .geodesy import great_circle_km
    from .targets import Cell, Place, PredictedCell, Region, parse_target

    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    target = parse_target(target)
    valid = np.isfinite(lat) & np.isfinite(lon)
    out = np.full(len(lat), np.nan)
    if not valid.any():
        return out
    la, lo = lat[valid], lon[valid]
    if isinstance(target, PredictedCell):
        if reference is None:
            raise ValueError("the predicted target needs the clean image's answer as the reference")
        out[valid] = great_circle_km(la, lo, reference[0], reference[1])
    elif isinstance(target, Place):
        from .countries import km_outside

        out[valid] = km_outside(la, lo, target.kind, target.name)
    elif isinstance(target, Region) and target.within is not None:
        c_lat, c_lon, radius = target.within
        out[valid] = np.maximum(0.0, great_circle_km(la, lo, c_lat, c_lon) - radius)
    elif isinstance(target, (Cell, Region)) and model is not None and hasattr(model, "finest"):
        cells = (np.array([target.index]) if isinstance(target, Cell)
                 else np.asarray(target.resolve(model).tolist()))  # type: ignore[arg-type]
        part = model.finest
        d = great_circle_km(la[:, None], lo[:, None], part.lat[cells][None], part.lon[cells][None])
        out[valid] = np.asarray(d).min(axis=1)
    else:
        raise ValueError(f"target {target} has no location for a black-box geolocator: use predicted, "
                         "within:LAT,LON,KM, country:CODE or continent:NAME")
    return out


#: log-probability given to a reference token that no longer appears among a reply's alternatives
UNSEEN_TOKEN_LOGPROB = -20.0


def reference_logprob(reference: list[list[Any]], reply: list[list[Any]]) -> float:
    """log P(the reference answer's coordinate tokens) as far as a reply's log-probabilities tell.

    Both are ``[[token, logprob, {alternative: logprob}], ...]`` (``GeoAnswer.meta["tokens"]``,
    greedy decoding). While the reply repeats the reference, each reference token's log-probability
    is the reply's own; at the first different token it is read from the reply's alternatives
    (``UNSEEN_TOKEN_LOGPROB`` when absent), and every later reference token counts as unseen, since
    the reply no longer conditions on the reference. Only tokens holding a digit (the coordinates)
    are summed."""
    total, diverged = 0.0, False
    for j, (token, _logprob, _alternatives) in enumerate(reference):
        if not diverged and j < len(reply) and reply[j][0] == token:
            value = float(reply[j][1])
        elif not diverged and j < len(reply):
            value = float(reply[j][2].get(token, UNSEEN_TOKEN_LOGPROB))
            diverged = True
        else:
            value, diverged = UNSEEN_TOKEN_LOGPROB, True
        if any(ch.isdigit() for ch in str(token)):
            total += value
    return total
