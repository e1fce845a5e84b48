"""What is explained: a scalar per image computed from a model's scores over its finest cells.

* ``PredictedCell()`` (default): the score (logit) of each image's top cell.
* ``Cell(i)``: the score of a given cell.
* ``Region(...)``: the summed softmax probability of a set of cells: a hierarchy node
  (``region:ES``), all cells within r km of a point (``within:41.39,2.17,25``) or explicit cells.
* ``Place("country", "ES")`` / ``Place("continent", "Europe")``: a Region of the cells whose centre
  lies in that country or continent (Natural Earth shapes, ``geoxai.countries``), for every model,
  with or without a label hierarchy (``country:ES``, ``country:Portugal``, ``continent:Europe``).

Cell targets use the raw score, as captum and pytorch-grad-cam do for classifiers; a region has no
single logit, so it uses the probability mass the model puts on it.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .interfaces import GeoModel


class Target(abc.ABC):
    @abc.abstractmethod
    def score(self, model: "GeoModel", scores: torch.Tensor) -> torch.Tensor:
        """[B, C] finest-cell scores -> [B] scalar to explain (differentiable)."""

    def cells(self, model: "GeoModel", scores: torch.Tensor) -> torch.Tensor | None:
        """The single cell per image [B] for cell targets, or None for regions."""
        return None


@dataclass(frozen=True)
class PredictedCell(Target):
    def score(self, model, scores):
        return scores.gather(1, self.cells(model, scores)[:, None])[:, 0]

    def cells(self, model, scores):
        return scores.detach().argmax(dim=1)

    def __str__(self) -> str:
        return "predicted"


@dataclass(frozen=True)
class Cell(Target):
    index: int

    def score(self, model, scores):
        return scores[:, self._checked(scores)]

    def cells(self, model, scores):
        return torch.full((scores.shape[0],), self._checked(scores), dtype=torch.long, device=scores.device)

    def _checked(self, scores) -> int:
        if not 0 <= self.index < scores.shape[1]:
            raise ValueError(f"cell {self.index} is out of range: the model has {scores.shape[1]} cells")
        return self.index

    def __str__(self) -> str:
        return f"cell:{self.index}"


@dataclass(frozen=True)
class Region(Target):
    node: str | None = None
    within: tuple[float, float, float] | None = None
    cell_indices: tuple[int, ...] | None = None

    def resolve(self, model: "GeoModel") -> torch.Tensor:
        if self.cell_indices is not None:
            cells = torch.as_tensor(self.cell_indices, dtype=torch.long)
        elif self.node is not None:
            cells = model.region_cells(self.node)
        elif self.within is not None:
            cells = model.cells_within(*self.within)
        else:
            raise ValueError("a Region needs a node, a 'within' circle or cell indices")
        if cells.numel() == 0:
            raise ValueError(f"target {self} contains no cell of model {model.name!r}")
        return cells

    def score(self, model, scores):
        return region_probability(scores, self.resolve(model).to(scores.device))

    def __str__(self) -> str:
        if self.node is not None:
            return f"region:{self.node}"
        if self.within is not None:
            return "within:{},{},{}".format(*self.within)
        return "cells:" + ",".join(map(str, self.cell_indices or ()))


@dataclass(frozen=True, init=False)
class Place(Region):
    """The cells of a country (ISO alpha-2/alpha-3 code or name) or a continent (Natural Earth's):
    ``Place("country", "Portugal")``, ``Place("continent", "Europe")``. The name is stored in its
    canonical form (the country code, the continent's name)."""

    kind: str = "country"
    name: str = ""

    def __init__(self, kind: str = "country", name: str = "") -> None:
        from . import countries

        if kind == "country":
            canonical = countries.find_country(name).code
        elif kind == "continent":
            canonical = countries.find_continent(name)
        else:
            raise ValueError(f"unknown place kind {kind!r}: use country or continent")
        for attr, value in (("node", None), ("within", None), ("cell_indices", None), ("kind", kind),
                            ("name", canonical)):
            object.__setattr__(self, attr, value)

    def resolve(self, model: "GeoModel") -> torch.Tensor:
        from .countries import region_cells

        cells = torch.as_tensor(region_cells(model.finest, self.kind, self.name), dtype=torch.long)
        if cells.numel() == 0:
            raise ValueError(f"target {self} contains no cell of model {model.name!r}")
        return cells

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def region_probability(scores: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Summed softmax probability of ``cells`` for every row of ``scores``."""
    return torch.softmax(scores, dim=1).index_select(1, cells).sum(dim=1)


def parse_target(spec: "str | int | Target | None") -> Target:
    """Parse ``predicted``, ``cell:1234``, ``region:ES``, ``within:LAT,LON,KM``, ``cells:1,2,3``,
    ``country:ES`` (code or name) or ``continent:Europe``."""
    if spec is None:
        return PredictedCell()
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, int):
        return Cell(spec)
    text = str(spec).strip()
    kind, _, arg = text.partition(":")
    kind = kind.lower()
    if kind in ("country", "continent") and arg.strip():
        return Place(kind=kind, name=arg.strip())  # an unknown name raises its own suggestion
    try:
        if kind in ("predicted", "pred", "") and not arg:
            return PredictedCell()
        if kind == "cell":
            return Cell(int(arg))
        if kind == "region" and arg:
            return Region(node=arg)
        if kind == "within":
            lat, lon, km = (float(v) for v in arg.split(","))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km > 0):
                raise ValueError("out of range")
            return Region(within=(lat, lon, km))
        if kind == "cells":
            return Region(cell_indices=tuple(int(v) for v in arg.split(",")))
    except ValueError:
        pass
    raise ValueError(
        f"invalid target {text!r}: use predicted, cell:INDEX, region:NODE, within:LAT,LON,KM, cells:I,J,..., "
        "country:CODE_OR_NAME or continent:NAME"
    )
