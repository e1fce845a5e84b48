"""The ADE20k concept table (150 classes) and its standard colour palette, shipped as package data."""
from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files

import numpy as np


def _data(name: str):
    return files("geoxai").joinpath("data").joinpath("ade20k").joinpath(name)


@cache
def ade20k_synonyms() -> tuple[tuple[str, ...], ...]:
    """For each of the 150 classes (model channel order), its synonyms, first one first."""
    rows = _data("objectInfo150.txt").read_text(encoding="utf-8").splitlines()[1:]
    out: list[tuple[str, ...]] = []
    for row in rows:
        idx, _ratio, _train, _val, names = row.split("\t")
        assert int(idx) == len(out) + 1, "objectInfo150.txt is out of order"
        out.append(tuple(n.strip() for n in names.split(",") if n.strip()))
    return tuple(out)


def ade20k_concepts() -> list[str]:
    """The 150 concept names: the first synonym of each class (wall, building, sky, floor, ...)."""
    return [syn[0] for syn in ade20k_synonyms()]


@cache
def _palette() -> np.ndarray:
    with _data("color150.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([[int(r["R"]), int(r["G"]), int(r["B"])] for r in rows], dtype=np.uint8)


def ade20k_palette() -> np.ndarray:
    """uint8 [150, 3] RGB colours in model channel order."""
    return _palette().copy()


def resolve_concept(name: str, concepts: list[str] | None = None) -> int:
    """Index of a concept given its name or any ADE20k synonym (case-insensitive)."""
    concepts = concepts or ade20k_concepts()
    key = name.strip().casefold()
    for i, c in enumerate(concepts):
        if c.casefold() == key:
            return i
    if len(concepts) == 150:
        for i, syns in enumerate(ade20k_synonyms()):
            if key in (s.casefold() for s in syns):
                return i
    raise KeyError(f"unknown concept {name!r}")
