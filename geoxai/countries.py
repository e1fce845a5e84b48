"""Countries and continents of the earth, and how much of a model's probability each one gets.

The shapes are Natural Earth's 1:50m admin-0 countries (public domain, packaged in
``geoxai/data/naturalearth``; see its SOURCE.md). Every finest cell of a partitioning is assigned
to the country its centre lies in (point-in-polygon with a shapely STRtree). A centre at sea goes
to the nearest country within ``SEA_TOLERANCE_KM`` (coastal cells whose centre falls just off a
generalised 1:50m coast, small islands) and otherwise to ``OCEAN``. The assignment is cached per
partitioning: in memory and as a small ``.npz`` file under ``$GEOXAI_HOME/countries`` keyed by a
hash of the cells' coordinates, the shapes file and the tolerance, written atomically.

Codes are ISO 3166-1 alpha-2 where Natural Earth has one (France and Norway, which it leaves at
-99, get FR and NO; Kosovo is XK); units without an ISO code keep Natural Earth's ADM0_A3
(e.g. ``SOL`` Somaliland, ``CYN`` Northern Cyprus). Continents are Natural Earth's CONTINENT
field (small open-ocean islands such as the Maldives are "Seven seas (open ocean)").
"""
from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .types import Partitioning

__all__ = [
    "Country", "OCEAN", "SEA_TOLERANCE_KM", "countries", "continents", "find_country", "find_continent",
    "assign_points", "cell_countries", "country_probabilities", "top_countries", "region_cells",
]

OCEAN = "ocean"
SEA_TOLERANCE_KM = 40.0
DATA_FILE = "ne_50m_admin_0_countries.geojson.gz"
_CACHE_VERSION = "1"
# Natural Earth (2017) names that have changed since: shown with today's short name.
_RENAMED = {"SZ": "Eswatini", "MK": "North Macedonia", "CZ": "Czechia"}
_MISSING_ISO_A2 = {"FRA": "FR", "NOR": "NO"}


@dataclass(frozen=True)
class Country:
    index: int          # position in ``countries()``
    code: str           # ISO alpha-2, or ADM0_A3 when the unit has no ISO code
    iso_a3: str         # ISO alpha-3, or ADM0_A3
    name: str
    continent: str
    kind: str           # Natural Earth TYPE: Sovereign country, Country, Dependency, ...
    aliases: tuple[str, ...]

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "continent": self.continent}


@lru_cache(maxsize=1)
def _data_bytes() -> bytes:
    # a plain path beside this module: importlib.resources.files() is slow under editable installs
    return (Path(__file__).parent / "data" / "naturalearth" / DATA_FILE).read_bytes()


@lru_cache(maxsize=1)
def _data_digest() -> bytes:
    return hashlib.sha256(_data_bytes()).digest()


@lru_cache(maxsize=1)
def _features() -> tuple[dict, ...]:
    return tuple(json.loads(gzip.decompress(_data_bytes()))["features"])


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """Every Natural Earth admin-0 unit, in file order (241)."""
    out = []
    for i, feature in enumerate(_features()):
        p = feature["properties"]
        adm0 = p["ADM0_A3"]
        code = p["ISO_A2"] if p["ISO_A2"] not in ("-99", "", None) else _MISSING_ISO_A2.get(adm0, adm0)
        iso_a3 = p["ISO_A3"] if p["ISO_A3"] not in ("-99", "", None) else adm0
        name = _RENAMED.get(code, p["NAME"])
        aliases = {code, iso_a3, adm0, name, p["NAME"], p["NAME_LONG"], p["ADMIN"]}
        aliases |= _pycountry_names(code)
        out.append(Country(i, code, iso_a3, name, p["CONTINENT"], p["TYPE"],
                           tuple(sorted(a for a in aliases if a and a != "-99"))))
    return tuple(out)


def _pycountry_names(code: str) -> set[str]:
    try:
        import pycountry
    except ImportError:  # pragma: no cover - pycountry is a dependency
        return set()
    record = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if record is None:
        return set()
    names = (getattr(record, attr, None) for attr in ("name", "common_name", "official_name"))
    return {name for name in names if name is not None}


def continents() -> list[str]:
    return sorted({c.continent for c in countries()})


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.strip()).encode("ascii", "ignore").decode()
    return " ".join(text.casefold().replace(".", " ").split())


@lru_cache(maxsize=1)
def _country_lookup() -> dict[str, Country]:
    table: dict[str, Country] = {}
    for country in countries():
        for alias in country.aliases:
            table.setdefault(_fold(alias), country)
    return table


def find_country(text: str) -> Country:
    """A country by ISO alpha-2/alpha-3 code or (any common) name, case- and accent-insensitive.
    Unknown names raise a one-line ValueError suggesting the closest names."""
    hit = _country_lookup().get(_fold(text))
    if hit is not None:
        return hit
    names = sorted({c.name for c in countries()} | {c.code for c in countries()})
    raise ValueError(f"unknown country {text!r}{_suggest(text, names)}")


def find_continent(text: str) -> str:
    for name in continents():
        if _fold(name) == _fold(text) or (_fold(text) == "seven seas" and name.startswith("Seven seas")):
            return name
    raise ValueError(f"unknown continent {text!r}{_suggest(text, continents())}; continents: "
                     + ", ".join(continents()))


def _suggest(text: str, names: list[str]) -> str:
    folded = {_fold(n): n for n in names}
    close = difflib.get_close_matches(_fold(text), list(folded), n=3, cutoff=0.6)
    return "; did you mean " + " or ".join(repr(folded[c]) for c in close) + "?" if close else ""


# ---- assigning points and cells ------------------------------------------------------------
@lru_cache(maxsize=1)
def _shapes():
    import shapely
    from shapely.geometry import shape

    geometries = np.array([shape(f["geometry"]) for f in _features()], dtype=object)
    shapely.prepare(geometries)
    return geometries, shapely.STRtree(geometries)


def assign_points(lat, lon, tolerance_km: float = SEA_TOLERANCE_KM) -> np.ndarray:
    """Index into ``countries()`` of the country each (lat, lon) lies in, -1 for the ocean.

    A point inside no shape goes to the shape whose nearest boundary point (found in degree space,
    measured on the sphere) is within ``tolerance_km``. A point on a shared border goes to the
    first country in file order, so the result is deterministic.
    """
    import shapely

    from .geodesy import great_circle_km

    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    geometries, tree = _shapes()
    points = shapely.points(lon, lat)
    out = np.full(len(lat), -1, dtype=np.int64)
    where, which = tree.query(points, predicate="intersects")
    order = np.lexsort((which, where))
    where, which = where[order], which[order]
    first = np.unique(where, return_index=True)[1]
    out[where[first]] = which[first]
    sea = np.flatnonzero(out < 0)
    if sea.size and tolerance_km > 0:
        degrees = tolerance_km / 111.19
        # a degree of longitude shrinks with latitude: widen the search box accordingly
        reach = degrees / np.maximum(np.cos(np.radians(lat[sea])), 0.02)
        local, which = tree.query(points[sea], predicate="dwithin", distance=reach)
        if local.size:
            near = shapely.get_coordinates(shapely.shortest_line(geometries[which], points[sea][local]))[0::2]
            km = great_circle_km(lat[sea][local], lon[sea][local], near[:, 1], near[:, 0])
            order = np.lexsort((which, km, local))
            local, which, km = local[order], which[order], km[order]
            first = np.unique(local, return_index=True)[1]
            keep = km[first] <= tolerance_km
            out[sea[local[first][keep]]] = which[first][keep]
    return out


_memory: dict[str, np.ndarray] = {}


def _partitioning_key(lat: np.ndarray, lon: np.ndarray, tolerance_km: float) -> str:
    h = hashlib.sha256()
    h.update(f"v{_CACHE_VERSION};tol={tolerance_km!r};n={len(lat)};".encode())
    h.update(_data_digest())
    h.update(np.ascontiguousarray(lat, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(lon, dtype="<f8").tobytes())
    return h.hexdigest()[:32]


def cell_countries(partitioning: Partitioning, tolerance_km: float = SEA_TOLERANCE_KM) -> np.ndarray:
    """int64 [C]: the country index of each cell of ``partitioning`` (-1: ocean), cached."""
    key = _partitioning_key(partitioning.lat, partitioning.lon, tolerance_km)
    hit = _memory.get(key)
    if hit is not None:
        return hit
    from .cache import geoxai_home
    from .io.atomic import atomic_path

    path = geoxai_home() / "countries" / f"{key}.npz"
    assignment = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                assignment = data["country"].astype(np.int64)
            if assignment.shape != (len(partitioning),):
                assignment = None
        except (OSError, ValueError, KeyError):  # a damaged cache file is recomputed, not trusted
            assignment = None
    if assignment is None:
        assignment = assign_points(partitioning.lat, partitioning.lon, tolerance_km)
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, country=assignment.astype(np.int16))
        except OSError:  # a read-only cache only costs the recomputation next time
            pass
    assignment.setflags(write=False)
    _memory[key] = assignment
    return assignment


def region_cells(partitioning: Partitioning, kind: str, name: str) -> np.ndarray:
    """Indices of the cells in a country (``kind='country'``, ISO code or name) or continent."""
    assignment = cell_countries(partitioning)
    if kind == "country":
        member = np.zeros(len(countries()) + 1, dtype=bool)
        member[find_country(name).index] = True
    elif kind == "continent":
        wanted = find_continent(name)
        member = np.array([c.continent == wanted for c in countries()] + [False])
    else:
        raise ValueError(f"unknown region kind {kind!r}: use country or continent")
    return np.flatnonzero(member[assignment])  # -1 (ocean) indexes the trailing False


# ---- probability per country ---------------------------------------------------------------
def country_probabilities(partitioning: Partitioning, probs) -> np.ndarray:
    """float64 [..., K + 1]: the summed probability of each country's cells; the last column is
    the ocean. ``probs`` is [..., C] over the partitioning's cells."""
    p = np.asarray(probs, dtype=np.float64)
    assignment = cell_countries(partitioning)
    if p.shape[-1] != len(assignment):
        raise ValueError(f"probabilities over {p.shape[-1]} cells for a partitioning of {len(assignment)}")
    columns = np.where(assignment < 0, len(countries()), assignment)
    flat = p.reshape(-1, p.shape[-1])
    out = np.zeros((flat.shape[0], len(countries()) + 1))
    for row in range(flat.shape[0]):
        out[row] = np.bincount(columns, weights=flat[row], minlength=len(countries()) + 1)
    return out.reshape(p.shape[:-1] + (len(countries()) + 1,))


def top_countries(partitioning: Partitioning, probs, k: int = 10, min_probability: float = 1e-4
                  ) -> dict[str, Any]:
    """The ``k`` countries with the most probability (at least ``min_probability``), every
    continent with some, and the ocean share, for one image's probabilities [C]."""
    mass = country_probabilities(partitioning, probs)
    if mass.ndim != 1:
        raise ValueError("top_countries takes one image's probabilities [C]")
    table = countries()
    order = np.argsort(-mass[:-1], kind="stable")
    listed = [{**table[i].to_dict(), "probability": float(mass[i])}
              for i in order[:k] if mass[i] >= min_probability]
    by_continent: dict[str, float] = {}
    for country, p in zip(table, mass[:-1]):
        by_continent[country.continent] = by_continent.get(country.continent, 0.0) + float(p)
    continent_rows = [{"name": n, "probability": p}
                      for n, p in sorted(by_continent.items(), key=lambda kv: (-kv[1], kv[0])) if p >= min_probability]
    return {"countries": listed, "continents": continent_rows, "ocean": float(mass[-1])}


def km_outside(lat, lon, kind: str, name: str) -> np.ndarray:
    """float64 [N]: how far each (lat, lon) lies outside a country (``kind='country'``) or continent,
    in km (0 inside). The nearest boundary point is found in degree space and measured on the sphere,
    as in :func:`assign_points`."""
    import shapely

    from .geodesy import great_circle_km

    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if kind == "country":
        members = [find_country(name).index]
    elif kind == "continent":
        wanted = find_continent(name)
        members = [c.index for c in countries() if c.continent == wanted]
    else:
        raise ValueError(f"unknown region kind {kind!r}: use country or continent")
    geometries = _shapes()[0][members]
    points = shapely.points(lon, lat)
    out = np.full(len(lat), np.inf)
    for geometry in geometries:
        inside = shapely.intersects(geometry, points)
        near = shapely.get_coordinates(shapely.shortest_line(geometry, points))[0::2]
        km = np.where(inside, 0.0, great_circle_km(lat, lon, near[:, 1], near[:, 0]))
        out = np.minimum(out, km)
    return out
