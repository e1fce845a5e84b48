"""geoxai: explain why a photo-geolocation model put a photo where it did.

The names below are imported on first use, so ``import geoxai`` (and ``geoxai plugins``,
``geoxai --help``) imports no torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

__version__ = "0.1.0"

#: public name -> the module that owns it
_EXPORTS = {
    "ConceptInfluence": "ci", "concept_influence": "ci",
    "GeoAnswer": "blackbox", "Geolocator": "blackbox", "as_geolocator": "blackbox",
    "accuracy_at": "geodesy", "great_circle_km": "geodesy",
    "Explainer": "interfaces", "GeoModel": "interfaces", "Segmenter": "interfaces",
    "MaskSegmenter": "interfaces", "ConceptMasks": "masks",
    "BaseExplainer": "explainers.base", "OptionError": "options",
    "available": "plugins", "load_explainer": "plugins", "load_model": "plugins", "load_segmenter": "plugins",
    "load_geocoder": "plugins", "load_engine": "plugins", "register": "plugins",
    "BoundTarget": "targets", "Cell": "targets", "Place": "targets", "PredictedCell": "targets", "Region": "targets",
    "Target": "targets", "parse_target": "targets",
    "Attribution": "types", "CellScore": "types", "GeoPrediction": "types", "ImageBatch": "types",
    "Partitioning": "types",
    "explain": "pipeline", "Explanation": "pipeline",
}

__all__ = sorted([*_EXPORTS, "hookimpl"])

if TYPE_CHECKING:  # what static tools see; at run time __getattr__ imports on demand
    from .blackbox import GeoAnswer, Geolocator, as_geolocator
    from .ci import ConceptInfluence, concept_influence
    from .explainers.base import BaseExplainer
    from .geodesy import accuracy_at, great_circle_km
    from .interfaces import Explainer, GeoModel, MaskSegmenter, Segmenter
    from .masks import ConceptMasks
    from .options import OptionError
    from .pipeline import Explanation, explain
    from .plugins import available, load_engine, load_explainer, load_geocoder, load_model, load_segmenter, register
    from .targets import BoundTarget, Cell, Place, PredictedCell, Region, Target, parse_target
    from .types import Attribution, CellScore, GeoPrediction, ImageBatch, Partitioning


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geoxai' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
