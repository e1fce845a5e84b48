"""The countries a zero-shot geolocator chooses among, and their continent > subregion > country
hierarchy as geoxai partitionings.

``data/countries.csv`` is built from Natural Earth's 1:50m admin-0 countries by
``scripts/build_countries.py`` (public domain data; see the plugin README for provenance): one row
per unit with its ADM0_A3 key, name, ISO codes, continent, subregion and a centroid computed from the
geometry (area-weighted centroid of its largest polygon, so France's centroid is in metropolitan
France, not pulled towards French Guiana).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from geoxai.types import Partitioning

COLUMNS = ("key", "name", "iso_a2", "iso_a3", "continent", "subregion", "lat", "lon")


@dataclass(frozen=True)
class Country:
    key: str
    name: str
    iso_a2: str
    iso_a3: str
    continent: str
    subregion: str
    lat: float
    lon: float


def read_countries(path: str | Path | None = None) -> list[Country]:
    """The packaged table, or a CSV with the same columns (e.g. a subset of countries)."""
    if path is None:
        text = resources.files("geoxai_streetclip").joinpath("data/countries.csv").read_text(encoding="utf-8")
        where = "geoxai_streetclip/data/countries.csv"
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: countries file not found")
        text, where = path.read_text(encoding="utf-8"), str(path)
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not set(COLUMNS) <= set(rows[0]):
        raise ValueError(f"{where}: a countries file needs the columns {', '.join(COLUMNS)} and one row per country")
    try:
        return [Country(**{k: r[k] for k in COLUMNS[:6]}, lat=float(r["lat"]), lon=float(r["lon"])) for r in rows]
    except ValueError as exc:
        raise ValueError(f"{where}: bad coordinate ({exc})") from None


def _mean_location(lats, lons) -> tuple[float, float]:
    """Centre of points on the sphere (mean of unit vectors), so groups across the antimeridian work."""
    lat, lon = np.radians(np.asarray(lats)), np.radians(np.asarray(lons))
    x, y, z = (np.cos(lat) * np.cos(lon)).mean(), (np.cos(lat) * np.sin(lon)).mean(), np.sin(lat).mean()
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def partitionings(countries: list[Country]) -> list[Partitioning]:
    """continent (coarsest) > subregion > country (finest; ``forward`` scores these)."""
    continents = sorted({c.continent for c in countries})
    subregions = sorted({(c.continent, c.subregion) for c in countries})
    levels = []
    for name, groups, key_of, parent_of in (
            ("continent", continents, lambda c: c.continent, None),
            ("subregion", subregions, lambda c: (c.continent, c.subregion), lambda g: continents.index(g[0]))):
        centres = [_mean_location([c.lat for c in countries if key_of(c) == g],
                                  [c.lon for c in countries if key_of(c) == g]) for g in groups]
        labels = [g if isinstance(g, str) else g[1] for g in groups]
        parent = [-1] * len(groups) if parent_of is None else [parent_of(g) for g in groups]
        levels.append(Partitioning(name, keys=labels, labels=labels, lat=[c[0] for c in centres],
                                   lon=[c[1] for c in centres], parent=parent))
    levels.append(Partitioning(
        "country", keys=[c.key for c in countries], labels=[c.name for c in countries],
        lat=[c.lat for c in countries], lon=[c.lon for c in countries],
        parent=[subregions.index((c.continent, c.subregion)) for c in countries]))
    return levels
