"""Reverse geocoders: coordinates -> address vectors ordered fine -> coarse.

An address vector is a list of ``(key, name)`` pairs, e.g. for a point in Barcelona
``[("ES/Catalonia/city:Eixample", "Eixample"), ("ES/Catalonia/admin2:Provincia de Barcelona",
"Provincia de Barcelona"), ("ES/Catalonia", "Catalonia"), ("ES", "Spain")]``. Keys identify a
location uniquely and stably (so that "Valencia" in Spain and in Venezuela never merge); names are
what people read. The country key is its ISO 3166-1 alpha-2 code.

Add a geocoder by subclassing :class:`ReverseGeocoder` and calling :func:`register_geocoder`
(``"module:attr"`` strings are imported only when the geocoder is used).
"""
from __future__ import annotations

import abc
import importlib
from typing import Any, Sequence

Address = list[tuple[str, str]]


class ReverseGeocoder(abc.ABC):
    """Maps coordinates to address vectors (fine -> coarse); an empty vector where nothing is known."""

    name: str = "geocoder"

    @abc.abstractmethod
    def addresses(self, lat: Sequence[float], lon: Sequence[float], progress: bool = False) -> list[Address]:
        """One address vector per coordinate, in input order."""


GEOCODERS: dict[str, Any] = {
    "offline": "geoxai.geocoders.offline:OfflineGeocoder",
    "nominatim": "geoxai.geocoders.nominatim:NominatimGeocoder",
}


def register_geocoder(name: str, target: Any) -> None:
    """Register a geocoder class (or a ``"module:attr"`` string naming one) under ``name``."""
    GEOCODERS[name] = target


def load_geocoder(name: str, **options: Any) -> ReverseGeocoder:
    """Instantiate the geocoder registered as ``name`` with ``options``."""
    try:
        target = GEOCODERS[name]
    except KeyError:
        raise ValueError(f"unknown geocoder {name!r}; known: {', '.join(sorted(GEOCODERS))}") from None
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target(**options)


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
