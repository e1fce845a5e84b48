"""pluggy hook specifications: what a geoxai plugin can provide.

A plugin is a module (or object) named by an entry point in group ``geoxai``. It implements any of
these hooks with ``@geoxai.hookimpl``; each hook receives a ``register`` callable::

    @hookimpl
    def register_models(register):
        register("mymodel", MyModel, description="...")

``register(name, factory, description="")`` takes a class or callable that builds the object from
keyword options, or a lazy ``"module:attribute"`` string so that listing plugins imports nothing
heavy.
"""
import pluggy

hookspec = pluggy.HookspecMarker("geoxai")
hookimpl = pluggy.HookimplMarker("geoxai")


@hookspec
def register_models(register):
    """Register GeoModel factories."""


@hookspec
def register_explainers(register):
    """Register Explainer factories."""


@hookspec
def register_segmenters(register):
    """Register Segmenter factories."""


@hookspec
def register_geocoders(register):
    """Register reverse geocoders (``geoxai.geocoders.ReverseGeocoder`` factories), used to
    build semantic partitionings."""


@hookspec
def register_engines(register):
    """Register job engines (``geoxai.jobs.engines.JobEngine`` factories): how
    ``geoxai report --engine NAME`` and ``geoxai quality --engine NAME`` run the compute stage."""


@hookspec
def register_weights(register):
    """Register downloadable weight files: ``register(WeightFile(...))``."""
