"""Built-in segmenters, registered through geoxai's own entry point."""
from ..hookspecs import hookimpl


@hookimpl
def register_segmenters(register):
    pass


@hookimpl
def register_weights(register):
    pass
