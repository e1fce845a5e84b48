"""geoxai plugin: a zero-shot CLIP geolocator over Natural Earth's countries (model ``streetclip``)."""
from geoxai import hookimpl


@hookimpl
def register_models(register):
    register("streetclip", "geoxai_streetclip.model:StreetCLIPModel",
             description="zero-shot CLIP geolocator over 241 countries (StreetCLIP or any CLIP checkpoint)")
