"""Adaptive S2 cell partitionings (Müller-Budack et al., ECCV 2018, Sec. 3.1) and their CSV files.

Building follows the public release (``partitioning/create_cells.py`` of TIBHannover/GeoEstimation):

1. every photo gets its S2 cell at ``level_min`` (the release's default is 2; 0 starts from the six
   cube faces as the paper describes);
2. cells with ``<= tau_min`` photos are dropped together with their photos;
3. level by level, every cell with more than ``tau_max`` photos is replaced by its four children
   (only the non-empty ones exist), until no cell exceeds ``tau_max`` or ``level_max`` is reached;
4. cells with ``<= tau_min`` photos are dropped again.

So every kept cell holds more than ``tau_min`` photos and (below ``level_max``) at most ``tau_max``.
A cell's location is the mean latitude and mean longitude of its photos. Several ``tau_max`` on the
same photos give nested partitionings: a fine cell lies inside exactly one coarse cell, which is
found through the S2 parent relation.

The official CSV layout (``cells_<tau_min>_<tau_max>.csv``) is two preamble lines (the release reads
with ``skiprows=2``), then the columns ``class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean``
where ``hex_id`` is the S2 cell token.
"""
from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import s2sphere

from ..geodesy import validate_coordinates
from ..io.atomic import atomic_path
from ..io.tables import TableError, read_table
from ..types import Partitioning

OFFICIAL_COLUMNS = ("class_label", "hex_id", "imgs_per_cell", "latitude_mean", "longitude_mean")
MAX_LEVEL = 30


# ---- S2 ids as uint64 numbers ---------------------------------------------------------------------
def leaf_cell_ids(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """S2 leaf (level 30) cell ids of points, as uint64."""
    return np.fromiter(
        (s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(float(a), float(o))).id()
         for a, o in zip(lat, lon)), dtype=np.uint64, count=len(lat))


def parent_ids(ids: np.ndarray, level: int) -> np.ndarray:
    """Ancestors at ``level`` of cell ids at a finer (or equal) level: keep the face and the first
    ``level`` child positions, then set the level's trailing marker bit."""
    lsb = np.uint64(1) << np.uint64(2 * (MAX_LEVEL - level))
    return (ids & ~(lsb * np.uint64(2) - np.uint64(1))) | lsb


def id_to_token(cell_id: int) -> str:
    return format(int(cell_id), "016x").rstrip("0") or "X"


def token_to_id(token: str) -> int:
    token = token.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,16}", token):
        raise ValueError(f"{token!r} is not an S2 cell token")
    return int(token.ljust(16, "0"), 16)


# ---- building -------------------------------------------------------------------------------------
def _adaptive_cells(leaves: np.ndarray, tau_min: int, tau_max: int, level_min: int, level_max: int
                    ) -> np.ndarray:
    """The cell id of every photo (0 where the photo was dropped) after the release's procedure."""
    cells = parent_ids(leaves, level_min)
    level = level_min

    def drop_small(cells: np.ndarray) -> np.ndarray:
        keys, inverse, counts = np.unique(cells, return_inverse=True, return_counts=True)
        small = (counts <= tau_min) | (keys == 0)
        return np.where(small[inverse], np.uint64(0), cells)

    cells = drop_small(cells)
    while level < level_max:
        keys, inverse, counts = np.unique(cells, return_inverse=True, return_counts=True)
        too_big = (counts > tau_max) & (keys != 0)
        if not too_big.any():
            break
        level += 1
        split = too_big[inverse]
        cells = np.where(split, parent_ids(leaves, level), cells)
    return drop_small(cells)


def build_s2_partitionings(
    lat: Sequence[float] | np.ndarray,
    lon: Sequence[float] | np.ndarray,
    tau_min: int = 50,
    tau_max: Sequence[int] | int = (5000, 2000, 1000),
    level_min: int = 2,
    level_max: int = MAX_LEVEL,
    names: Sequence[str] | None = None,
) -> list[Partitioning]:
    """Adaptive S2 partitionings of photo coordinates, one per ``tau_max``, ordered coarse -> fine
    (largest ``tau_max`` first), with ``parent`` links to the next coarser one and photo counts.

    Cells are numbered by increasing S2 cell id (the release numbers them in discovery order).
    Names default to the official file stems ``cells_<tau_min>_<tau_max>``.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"build_s2_partitionings: {lat.size} latitudes but {lon.size} longitudes")
    validate_coordinates(lat, lon, "build_s2_partitionings")
    taus = sorted({int(t) for t in np.atleast_1d(tau_max)}, reverse=True)
    if len(taus) != len(np.atleast_1d(tau_max)):
        raise ValueError(f"build_s2_partitionings: tau_max values must be distinct, got {tau_max}")
    if tau_min < 0 or any(t <= tau_min for t in taus):
        raise ValueError(f"build_s2_partitionings: need 0 <= tau_min < every tau_max, got {tau_min} and {taus}")
    if not 0 <= level_min <= level_max <= MAX_LEVEL:
        raise ValueError(
            f"build_s2_partitionings: need 0 <= level_min <= level_max <= 30, got {level_min}, {level_max}")
    if names is not None and len(names) != len(taus):
        raise ValueError(f"build_s2_partitionings: {len(taus)} tau_max values but {len(names)} names")

    leaves = leaf_cell_ids(lat, lon)
    parts = []
    for i, tmax in enumerate(taus):
        cells = _adaptive_cells(leaves, tau_min, tmax, level_min, level_max)
        kept = cells != 0
        keys, inverse, counts = np.unique(cells[kept], return_inverse=True, return_counts=True)
        mean_lat = np.bincount(inverse, weights=lat[kept], minlength=len(keys)) / counts
        mean_lon = np.bincount(inverse, weights=lon[kept], minlength=len(keys)) / counts
        parts.append(Partitioning(
            name=names[i] if names else f"cells_{tau_min}_{tmax}",
            keys=[id_to_token(k) for k in keys], lat=mean_lat, lon=mean_lon, counts=counts,
        ))
    link_s2_hierarchy(parts)
    return parts


def link_s2_hierarchy(parts: Sequence[Partitioning], strict: bool = False) -> None:
    """Set ``parent`` of each partitioning (coarse -> fine) from the S2 parent relation: a cell's
    parent is the coarser partitioning's cell that is the cell itself or one of its ancestors
    (-1 where there is none; ``strict`` raises instead)."""
    if parts:
        parts[0].parent = np.full(len(parts[0]), -1, dtype=np.int64)
    for coarse, fine in zip(parts[:-1], parts[1:]):
        index = {token_to_id(k): i for i, k in enumerate(coarse.keys)}
        levels = sorted({int(s2sphere.CellId(c).level()) for c in index})
        parent = np.full(len(fine), -1, dtype=np.int64)
        ids = np.array([token_to_id(k) for k in fine.keys], dtype=np.uint64)
        fine_levels = np.array([s2sphere.CellId(int(c)).level() for c in ids], dtype=np.int64)
        for level in levels:
            candidates = parent_ids(ids, level)
            for j in np.flatnonzero((parent < 0) & (fine_levels >= level)):
                parent[j] = index.get(int(candidates[j]), -1)
        if strict and (parent < 0).any():
            j = int(np.flatnonzero(parent < 0)[0])
            raise ValueError(f"cell {fine.keys[j]} of {fine.name!r} lies in no cell of {coarse.name!r}")
        fine.parent = parent


# ---- the official CSV files -----------------------------------------------------------------------
def write_s2_partitionings(parts: Iterable[Partitioning], out_dir: str | os.PathLike) -> list[Path]:
    """Write each partitioning as ``<out_dir>/<name>.csv`` in the official layout (atomically)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in parts:
        counts = part.counts if part.counts is not None else np.zeros(len(part), dtype=np.int64)
        path = out_dir / f"{part.name}.csv"
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            # Two preamble lines: the release reads these files with skiprows=2.
            fh.write(f"num_images: {int(counts.sum())}\n")
            fh.write(f"partitioning: {part.name}\n")
            writer = csv.writer(fh)
            writer.writerow(OFFICIAL_COLUMNS)
            for i, key in enumerate(part.keys):
                writer.writerow([i, key, int(counts[i]), repr(float(part.lat[i])), repr(float(part.lon[i]))])
        paths.append(path)
    return paths


def read_s2_partitioning(path: str | os.PathLike, name: str | None = None) -> Partitioning:
    """One official partitioning CSV (any preamble before the ``class_label`` header line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: partitioning file does not exist")
    table = read_table(path, required=["class_label", "hex_id", "latitude_mean", "longitude_mean"],
                       optional=["imgs_per_cell"], what="partitioning file", header_starts_with="class_label")
    if not len(table):
        raise ValueError(f"{path}: no cells")
    try:
        order = np.argsort(table.ints("class_label"), kind="stable")
        labels = table.ints("class_label")[order].tolist()
        lat, lon = table.floats("latitude_mean")[order], table.floats("longitude_mean")[order]
        counts = table.ints("imgs_per_cell")[order].tolist() if "imgs_per_cell" in table else None
        keys = [table.strings("hex_id")[i].strip() for i in order]
        for k in keys:
            token_to_id(k)
    except TableError:
        raise  # already names the file and line
    except ValueError as exc:
        raise ValueError(f"{path}: bad value ({exc})") from None
    if labels != list(range(len(keys))):
        raise ValueError(f"{path}: class_label must number the cells 0..{len(keys) - 1} without gaps")
    validate_coordinates(np.asarray(lat), np.asarray(lon), str(path))
    return Partitioning(name or path.stem, keys=keys, lat=lat, lon=lon, counts=counts)


def official_files(directory: str | os.PathLike) -> list[Path]:
    """The ``cells_<min>_<max>*.csv`` files of a directory, coarse (largest tau_max) first."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: partition directory does not exist")
    found = []
    for p in directory.glob("cells_*.csv"):
        m = re.match(r"cells_(\d+)_(\d+)", p.stem)
        if m:
            found.append((-int(m.group(2)), p.name, p))
    if not found:
        raise FileNotFoundError(f"{directory}: no partition files named cells_<tau_min>_<tau_max>.csv")
    return [p for *_k, p in sorted(found)]


def read_s2_partitionings(source: str | os.PathLike | Sequence[str | os.PathLike],
                          names: Sequence[str] | None = None, strict_hierarchy: bool = False) -> list[Partitioning]:
    """Official partitioning files (a directory or a list of files, coarse -> fine) with the
    hierarchy between them linked through S2 parents."""
    files = official_files(source) if isinstance(source, (str, os.PathLike)) and Path(source).is_dir() \
        else [Path(p) for p in ([source] if isinstance(source, (str, os.PathLike)) else source)]
    if names is not None and len(names) != len(files):
        raise ValueError(f"{len(files)} partition files but {len(names)} names")
    parts = [read_s2_partitioning(f, names[i] if names else None) for i, f in enumerate(files)]
    link_s2_hierarchy(parts, strict=strict_hierarchy)
    return parts
