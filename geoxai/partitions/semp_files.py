"""Reading and writing SemP partitionings.

A directory written by :func:`write_semp` holds two equivalent descriptions:

* geoxai's own: ``semp.json`` (manifest, coarse -> fine), one ``Partitioning.to_csv`` file per
  partitioning (``semp_<tau_min>.csv``) and ``hierarchy.csv`` (``key,name,parent,count``: the
  location hierarchy, needed for region targets and for assigning new datasets);
* the public release's (jtheiner/semantic_geo_partitioning): one ``m_<number of classes>.csv``
  per partitioning with ``class_index,class_label,latitude_mean,longitude_mean`` (+ ``name``,
  ``count``), ``h_dict.json`` (``{"m_<n>": {location: parent location in the next coarser
  partitioning}}`` for every partitioning but the coarsest) and ``target_mapping.json``
  (``{sample id: [class index per partitioning, coarse -> fine]}``).
"""
from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from ..io.atomic import atomic_path, write_text_atomic
from ..io.tables import TableError, read_table
from ..types import Partitioning
from .semp import SemPHierarchy, SemPResult

MANIFEST = "semp.json"
HIERARCHY = "hierarchy.csv"
#: columns of the public partitioning CSVs that may carry a readable name (first found wins)
NAME_COLUMNS = ("label", "name", "name_en", "localname", "display_name", "class_name")


def write_semp(result: SemPResult, out_dir: str | os.PathLike, ids: Sequence[str] | None = None,
               geocoder: str | None = None) -> Path:
    """Write ``result`` to ``out_dir`` in both formats; returns the manifest's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = result.partitionings
    for part in parts:
        part.to_csv(out / f"{part.name}.csv")
    # the whole hierarchy, not only classes: new samples may name a location that is no class
    write_hierarchy(result.hierarchy, out / HIERARCHY)
    sizes = [len(p) for p in parts]
    public = len(set(sizes)) == len(sizes)
    if public:
        _write_public(result, out, ids)
    else:
        warnings.warn(f"{out}: two partitionings have {sizes} classes; the public m_<n>.csv naming "
                      "cannot tell them apart, so only geoxai's format was written", stacklevel=2)
    manifest = {
        "kind": "semp", "tau_d": result.tau_d, "tau_min": result.tau_min, "geocoder": geocoder,
        "partitionings": [f"{p.name}.csv" for p in parts], "hierarchy": HIERARCHY,
        "public_format": [f"m_{n}.csv" for n in sizes] if public else None,
    }
    return write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def load_semp(directory: str | os.PathLike) -> tuple[list[Partitioning], SemPHierarchy | None]:
    """Partitionings (coarse -> fine) and hierarchy from a directory in either format."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: partition directory does not exist")
    manifest = d / MANIFEST
    if manifest.exists():
        info = _read_manifest(manifest)
        parts = [Partitioning.from_csv(_member(manifest, f)) for f in info["partitionings"]]
        hierarchy = read_hierarchy(_member(manifest, info["hierarchy"])) if info.get("hierarchy") else None
        return parts, hierarchy
    files = sorted(d.glob("m_*.csv"), key=lambda p: _public_size(p))
    if not files:
        raise FileNotFoundError(f"{d}: neither {MANIFEST} nor public m_<n>.csv partitioning files found")
    h_dict = d / "h_dict.json"
    parents = json.loads(h_dict.read_text(encoding="utf-8")) if h_dict.exists() else None
    parts = read_public_partitionings(files, parents)
    hierarchy = read_hierarchy(d / HIERARCHY) if (d / HIERARCHY).exists() else None
    return parts, hierarchy


def _read_manifest(manifest: Path) -> dict:
    """``semp.json`` as a dict with a non-empty ``partitionings`` list; anything else (bad JSON,
    a list, missing keys) is a one-line ValueError naming the file."""
    from ..io.json_files import read_json_object

    problem = f"{manifest}: not a SemP partitions manifest"
    info = read_json_object(manifest, problem)
    files = info.get("partitionings")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ValueError(f"{problem} (\"partitionings\" must be a non-empty list of file names)")
    if info.get("hierarchy") is not None and not isinstance(info["hierarchy"], str):
        raise ValueError(f"{problem} (\"hierarchy\" must be a file name)")
    return info


def _member(manifest: Path, name: str) -> Path:
    """The file ``name`` of the manifest's folder: only a plain name inside it (no absolute path,
    no ``..``, no link leading out), so a crafted manifest cannot read, or echo, outside files."""
    folder = manifest.parent
    path = folder / name
    inside = not Path(name).is_absolute() and ".." not in Path(name).parts
    if not inside or not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{manifest}: {name!r} is not a file inside {folder} (only names inside the folder)")
    return path


def read_public_partitioning(path: str | os.PathLike, name: str | None = None, index_col: str = "class_index",
                             col_class_label: str = "class_label", col_latitude: str = "latitude_mean",
                             col_longitude: str = "longitude_mean") -> Partitioning:
    """One ``m_<n>.csv`` (class_index, class_label, latitude_mean, longitude_mean[, name, count]).

    The column names default to the release's ``base_part_kwargs`` and can be overridden the same way.
    """
    path = Path(path)
    exact = [(index_col, (index_col,)), (col_class_label, (col_class_label,)), (col_latitude, (col_latitude,)),
             (col_longitude, (col_longitude,))]
    try:
        table = read_table(path, required=exact, optional=[("name", NAME_COLUMNS), ("count", ("count",))],
                           what="SemP partitioning file")
    except TableError as exc:
        need = ", ".join(c for c, _ in exact)
        raise ValueError(f"{exc}; a SemP partitioning file needs columns {need}") from None
    if not len(table):
        raise ValueError(f"{path}: not a SemP partitioning file (no classes)")
    indices = table.ints(index_col)
    order = np.argsort(indices, kind="stable")
    if indices[order].tolist() != list(range(len(table))):
        raise ValueError(f"{path}: {index_col} must run from 0 to {len(table) - 1} without gaps")
    keys = [table.strings(col_class_label)[i] for i in order]
    labels = None
    if "name" in table:
        names = table.strings("name")
        labels = [names[i] or keys[k] for k, i in enumerate(order)]
    counts = table.strings("count") if "count" in table else []
    return Partitioning(
        name=name or path.stem, keys=keys, lat=table.floats(col_latitude)[order],
        lon=table.floats(col_longitude)[order], labels=labels,
        counts=table.ints("count")[order] if counts and all(counts) else None,
    )


def read_public_partitionings(files: Sequence[str | os.PathLike], h_dict: dict | None,
                              names: Sequence[str] | None = None, **columns: str) -> list[Partitioning]:
    """Public partitioning files ordered coarse -> fine, linked by ``h_dict`` (fine -> coarser parent)."""
    names = list(names) if names else [None] * len(files)
    parts = [read_public_partitioning(f, name=n, **columns) for f, n in zip(files, names)]
    parts[0].parent = np.full(len(parts[0]), -1, dtype=np.int64)
    for coarse, fine in zip(parts[:-1], parts[1:]):
        if h_dict is None:
            raise ValueError("several SemP partitionings need h_dict.json to link them")
        links = h_dict.get(f"m_{len(fine)}")
        if links is None:
            raise ValueError(f"h_dict.json has no entry 'm_{len(fine)}' for partitioning {fine.name!r}")
        missing = [k for k in fine.keys if k not in links]
        if missing:
            raise ValueError(
                f"h_dict.json 'm_{len(fine)}' has no parent for {len(missing)} classes, e.g. {missing[0]!r}")
        fine.parent = np.array([coarse.index_of(links[k]) for k in fine.keys], dtype=np.int64)
    return parts


def write_hierarchy(hierarchy: SemPHierarchy, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "name", "parent", "count"])
        for key in sorted(hierarchy.parent):
            w.writerow([key, hierarchy.names.get(key, key), hierarchy.parent[key] or "",
                        hierarchy.counts.get(key, "")])


def read_hierarchy(path: Path) -> SemPHierarchy:
    try:
        table = read_table(path, required=[("key", ("key",)), ("parent", ("parent",))],
                           optional=[("name", ("name",)), ("count", ("count",))], what="SemP hierarchy file")
    except TableError as exc:
        raise ValueError(f"{exc}; a SemP hierarchy file has columns key,name,parent,count") from None
    keys, parents = table.strings("key"), table.strings("parent")
    parent = {k: (p or None) for k, p in zip(keys, parents)}
    unknown = [p for p in parent.values() if p is not None and p not in parent]
    if unknown:
        raise ValueError(f"{path}: parent {unknown[0]!r} is not a location of the file")
    names = table.strings("name") if "name" in table else [""] * len(keys)
    counts = table.strings("count") if "count" in table else [""] * len(keys)
    count_values = table.ints("count") if "count" in table and all(counts) else None
    return SemPHierarchy(
        parent=parent, names={k: n or k for k, n in zip(keys, names)},
        counts={k: int(count_values[i]) if count_values is not None else int(c)
                for i, (k, c) in enumerate(zip(keys, counts)) if c})


def _write_public(result: SemPResult, out: Path, ids: Sequence[str] | None) -> None:
    parts = result.partitionings
    for part in parts:
        with atomic_path(out / f"m_{len(part)}.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["class_index", "class_label", "latitude_mean", "longitude_mean", "name", "count"])
            for i, key in enumerate(part.keys):
                w.writerow([i, key, repr(float(part.lat[i])), repr(float(part.lon[i])), part.label(i),
                            int(part.counts[i]) if part.counts is not None else ""])
    # SemP results always link every finer partitioning to its coarser one
    h_dict = {f"m_{len(fine)}": {k: coarse.keys[p] for k, p in zip(fine.keys, cast(np.ndarray, fine.parent))}
              for coarse, fine in zip(parts[:-1], parts[1:])}
    write_text_atomic(out / "h_dict.json", json.dumps(h_dict, ensure_ascii=False) + "\n")
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(result.targets))]
    mapping = {ids[i]: result.targets[i].tolist() for i in range(len(ids)) if result.targets[i, 0] >= 0}
    write_text_atomic(out / "target_mapping.json", json.dumps(mapping) + "\n")


def _public_size(path: Path) -> int:
    m = re.fullmatch(r"m_(\d+)", path.stem)
    if not m:
        raise ValueError(f"{path}: public SemP partitioning files are named m_<number of classes>.csv")
    return int(m.group(1))
