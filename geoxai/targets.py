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

Binding. An explainer (or a quality measure) scores many rows that belong to few images: noisy
copies, points on an integration path, perturbed images. ``target.bind(model, logits)`` fixes the
target once, from the model and the *clean* images' logits [B, C]: the predicted cell of each clean
image, a checked cell index, a region's cell list. The ``BoundTarget`` it returns scores any rows::

    logits = model(x)                                  # the clean images, [B, C]
    bound = parse_target("predicted").bind(model, logits.detach())
    bound.score(logits)                                # [B]: row b is image b
    bound.score(model(noisy), rows)                    # [N]: row n belongs to image rows[n]

so a noisy copy is scored for the cell predicted for its clean image (what captum does with an
explicit ``target=``). ``needs_logits`` is False for targets that bind without them (a cell, a
region): ``bind(model, None)`` then costs no forward pass.
"""
from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from .types import Partitioning


class CellModel(Protocol):
    """What a target needs from a model; every ``geoxai.GeoModel`` has it. (A protocol, so that
    targets depend on no model class and the flow model -> target -> explainer stays one way.)"""

    name: str

    @property
    def finest(self) -> Partitioning: ...

    def region_cells(self, node: str) -> torch.Tensor: ...

    def cells_within(self, lat: float, lon: float, radius_km: float) -> torch.Tensor: ...


class BoundTarget:
    """A target fixed for one batch of images: ``score(scores, rows)`` -> [N] differentiable scalars.

    ``scores`` [N, C] are finest-cell scores of N rows, ``rows`` [N] says which image of the bound
    batch each row belongs to (default: row n is image n). ``cells`` is the cell per image [B] for
    cell targets, None for regions."""

    def __init__(self, target: Target, score: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
                 cells: torch.Tensor | None = None) -> None:
        self.target = target
        self._score = score
        self.cells = cells

    def score(self, scores: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self._score(scores, rows)

    def __repr__(self) -> str:
        return f"BoundTarget({self.target})"


class Target(abc.ABC):
    #: whether ``bind`` needs the clean logits (False: ``bind(model, None)`` is enough)
    needs_logits: bool = True

    @abc.abstractmethod
    def score(self, model: CellModel, scores: torch.Tensor) -> torch.Tensor:
        """[B, C] finest-cell scores -> [B] scalar to explain (differentiable), each row on its own."""

    def cells(self, model: CellModel, scores: torch.Tensor) -> torch.Tensor | None:
        """The single cell per image [B] for cell targets, or None for regions."""
        return None

    def bind(self, model: CellModel, logits: torch.Tensor | None) -> BoundTarget:
        """Fix the target for the images whose clean scores are ``logits`` [B, C].

        The default scores each row on its own with :meth:`score` (right for any target that
        does not depend on the clean prediction); built-in targets resolve what they need once."""
        return BoundTarget(self, lambda scores, rows: self.score(model, scores))


@dataclass(frozen=True)
class PredictedCell(Target):
    def bind(self, model, logits):
        if logits is None:
            raise ValueError("the predicted-cell target binds to the clean logits; got none")
        cells = logits.detach().argmax(dim=1)
        return BoundTarget(self, lambda scores, rows: _gather(scores, cells if rows is None else cells[rows]), cells)

    def score(self, model, scores):
        return scores.gather(1, self.cells(model, scores)[:, None])[:, 0]

    def cells(self, model, scores):
        return scores.detach().argmax(dim=1)

    def __str__(self) -> str:
        return "predicted"


@dataclass(frozen=True)
class Cell(Target):
    index: int
    needs_logits = False

    def bind(self, model, logits):
        count = logits.shape[1] if logits is not None else len(model.finest)
        index = self._in_range(count)
        cells = None
        if logits is not None:
            cells = torch.full((logits.shape[0],), index, dtype=torch.long, device=logits.device)
        return BoundTarget(self, lambda scores, rows: scores[:, index], cells)

    def score(self, model, scores):
        return scores[:, self._checked(scores)]

    def cells(self, model, scores):
        return torch.full((scores.shape[0],), self._checked(scores), dtype=torch.long, device=scores.device)

    def _checked(self, scores) -> int:
        return self._in_range(scores.shape[1])

    def _in_range(self, count: int) -> int:
        if not 0 <= self.index < count:
            raise ValueError(f"cell {self.index} is out of range: the model has {count} cells")
        return self.index

    def __str__(self) -> str:
        return f"cell:{self.index}"


@dataclass(frozen=True)
class Region(Target):
    node: str | None = None
    within: tuple[float, float, float] | None = None
    cell_indices: tuple[int, ...] | None = None
    needs_logits = False

    def bind(self, model, logits):
        # resolved once here, not on every forward pass of an explainer's inner loop
        cells = self.resolve(model)
        if logits is not None:
            cells = cells.to(logits.device)
        return BoundTarget(self, lambda scores, rows: region_probability(scores, cells.to(scores.device)))

    def resolve(self, model: CellModel) -> torch.Tensor:
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

    def resolve(self, model: CellModel) -> torch.Tensor:
        from .countries import region_cells

        cells = torch.as_tensor(region_cells(model.finest, self.kind, self.name), dtype=torch.long)
        if cells.numel() == 0:
            raise ValueError(f"target {self} contains no cell of model {model.name!r}")
        return cells

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def _gather(scores: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    return scores.gather(1, cells.to(scores.device)[:, None])[:, 0]


def bind_target(target: str | int | Target | None, model: CellModel, logits: torch.Tensor | None) -> BoundTarget:
    """``parse_target(target).bind(model, logits)``."""
    return parse_target(target).bind(model, logits)


def region_probability(scores: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Summed softmax probability of ``cells`` for every row of ``scores``."""
    return torch.softmax(scores, dim=1).index_select(1, cells).sum(dim=1)


def parse_target(spec: str | int | Target | None) -> Target:
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
