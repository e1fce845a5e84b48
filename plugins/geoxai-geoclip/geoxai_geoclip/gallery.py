"""GeoCLIP's GPS gallery as geoxai partitionings: every gallery point is a cell.

The finest partitioning has one cell per gallery coordinate. A coarser ``country`` partitioning
(offline reverse geocoding with ``reverse_geocoder``) gives ``region:ES``-style targets parent
links to follow; its cell location is the spherical mean of its gallery points.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from geoxai.geodesy import validate_coordinates
from geoxai.types import Partitioning


def geoclip_gallery_path() -> Path:
    """The 100K-coordinate gallery that ships inside the geoclip wheel."""
    from geoclip.model.misc import file_dir

    return Path(file_dir) / "gps_gallery" / "coordinates_100K.csv"


def read_gallery(path: str | os.PathLike | None = None, size: int | None = None) -> np.ndarray:
    """Gallery coordinates [N, 2] (lat, lon) in degrees from a CSV with LAT/LON columns (any case,
    any of geoxai's aliases: read by ``geoxai.io.tables``).

    ``size`` keeps the first ``size`` rows: geoclip's gallery is in random order, so a prefix is a
    world-wide sample.
    """
    from geoxai.io.tables import read_table

    path = Path(path) if path is not None else geoclip_gallery_path()
    table = read_table(path, required=["lat", "lon"], what="GPS gallery file")
    coords = np.stack([table.floats("lat"), table.floats("lon")], axis=1).reshape(-1, 2)
    if size is not None:
        if size < 1:
            raise ValueError(f"gallery_size must be >= 1, got {size}")
        coords = coords[:size]
    if len(coords) == 0:
        raise ValueError(f"{path}: the GPS gallery is empty")
    validate_coordinates(coords[:, 0], coords[:, 1], where=str(path))
    return coords


def gallery_partitionings(coords: np.ndarray, countries: bool = True) -> list[Partitioning]:
    """[country ->] gallery, ordered coarse -> fine as geoxai expects."""
    n = len(coords)
    keys = [f"g{i}" for i in range(n)]
    if not countries:
        return [Partitioning("gallery", keys=keys, lat=coords[:, 0], lon=coords[:, 1])]
    places = _reverse_geocode(coords)
    codes = [p["cc"] for p in places]
    labels = [", ".join(v for v in (p["name"], p["admin1"], p["cc"]) if v) for p in places]
    country_keys = sorted(set(codes))
    index = {cc: i for i, cc in enumerate(country_keys)}
    parent = np.array([index[cc] for cc in codes], dtype=np.int64)
    centre_lat, centre_lon = _spherical_means(coords, parent, len(country_keys))
    counts = np.bincount(parent, minlength=len(country_keys))
    country = Partitioning("country", keys=country_keys, lat=centre_lat, lon=centre_lon,
                           parent=np.full(len(country_keys), -1), counts=counts)
    gallery = Partitioning("gallery", keys=keys, lat=coords[:, 0], lon=coords[:, 1], labels=labels, parent=parent)
    return [country, gallery]


def _reverse_geocode(coords: np.ndarray) -> list[dict]:
    import reverse_geocoder

    # reverse_geocoder prints a loading banner on stdout even with verbose=False.
    with contextlib.redirect_stdout(io.StringIO()):
        return reverse_geocoder.search([tuple(map(float, c)) for c in coords], mode=1, verbose=False)


def _spherical_means(coords: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean direction of each group's points (a plain mean of longitudes fails across +-180)."""
    lat, lon = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    sums = np.zeros((n_groups, 3))
    np.add.at(sums, groups, xyz)
    x, y, z = sums.T
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))
