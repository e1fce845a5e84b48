"""geoxai: explain why a photo-geolocation model put a photo where it did."""
from .concept_influence import ConceptInfluence, concept_influence
from .geodesy import accuracy_at, great_circle_km
from .hookspecs import hookimpl
from .interfaces import Explainer, GeoModel, Segmenter
from .plugins import available, load_explainer, load_model, load_segmenter
from .targets import Cell, Place, PredictedCell, Region, Target, parse_target
from .types import CellScore, GeoPrediction, ImageBatch, Partitioning

__version__ = "0.1.0"

__all__ = [
    "Cell", "CellScore", "ConceptInfluence", "Explainer", "GeoModel", "GeoPrediction", "ImageBatch", "Partitioning",
    "Place", "PredictedCell", "Region", "Segmenter", "Target", "accuracy_at", "available", "concept_influence", "great_circle_km",
    "hookimpl", "load_explainer", "load_model", "load_segmenter", "parse_target",
]
