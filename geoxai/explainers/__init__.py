"""Built-in explainers, registered through geoxai's own entry point."""
from ..hookspecs import hookimpl


@hookimpl
def register_explainers(register):
    pass
