"""Offline reverse geocoding with the ``reverse-geocoder`` package (GeoNames cities1000).

Each coordinate goes to its nearest GeoNames place (a populated place with >= 1000 inhabitants)
and yields ``(place, admin2, admin1, country)``; levels the gazetteer leaves empty are skipped.
This is coarser and simpler than the OpenStreetMap/Nominatim geocoding of the SemP paper (no
streets or districts unless GeoNames lists them as places), but needs no server.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from functools import cache

import numpy as np

from ..options import PositiveInt
from . import Address, ReverseGeocoder, location_key


@cache
def country_name(code: str) -> str:
    """English short name of an ISO 3166-1 alpha-2 code (the code itself when unknown, e.g. 'XK')."""
    try:
        import pycountry
    except ImportError:  # pragma: no cover - pycountry is a dependency
        return code
    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


class OfflineGeocoder(ReverseGeocoder):
    """Nearest GeoNames place -> (place, admin2, admin1, country), keyed by ISO country code."""

    name = "offline"

    def __init__(self, batch_size: PositiveInt = 50_000) -> None:
        self.batch_size = int(batch_size)

    def addresses(self, lat: Sequence[float], lon: Sequence[float], progress: bool = False) -> list[Address]:
        import reverse_geocoder
        from tqdm.auto import tqdm

        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        out: list[Address] = []
        with tqdm(total=len(lat), desc="reverse geocoding", unit="pt", disable=not progress) as bar:
            for start in range(0, len(lat), self.batch_size):
                coords = list(zip(lat[start:start + self.batch_size].tolist(),
                                  lon[start:start + self.batch_size].tolist()))
                # mode=1: one process (the multiprocess mode forks per call); the package still
                # prints while loading its table, which would corrupt CLI output.
                with contextlib.redirect_stdout(io.StringIO()):
                    records = reverse_geocoder.search(coords, mode=1, verbose=False)
                out.extend(self._address(r) for r in records)
                bar.update(len(coords))
        return out

    @staticmethod
    def _address(record: dict) -> Address:
        cc = record.get("cc", "").upper()
        if not cc:
            return []
        admin1 = record.get("admin1") or None
        address: Address = []
        if record.get("name"):
            address.append((location_key(cc, admin1, "place", record["name"]), record["name"]))
        if record.get("admin2"):
            address.append((location_key(cc, admin1, "admin2", record["admin2"]), record["admin2"]))
        if admin1:
            address.append((location_key(cc, admin1), admin1))
        address.append((location_key(cc), country_name(cc)))
        return address
