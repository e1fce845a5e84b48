"""Built-in reference geolocators, registered through geoxai's own entry point."""
from ..hookspecs import hookimpl


@hookimpl
def register_models(register):
    pass


@hookimpl
def register_weights(register):
    pass
