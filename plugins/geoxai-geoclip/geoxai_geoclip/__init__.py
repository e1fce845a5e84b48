"""geoxai plugin: GeoCLIP as a GeoModel. Registration is lazy: listing plugins imports no torch code."""
from geoxai import hookimpl

__all__ = ["register_models"]


@hookimpl
def register_models(register):
    register("geoclip", "geoxai_geoclip.model:GeoCLIPModel",
             description="GeoCLIP retrieval over its GPS gallery (cells = gallery points; pip geoclip)")
