"""The one place where the quality measures turn a target into scores and maps.

Targets bind through the SDK's ``Target.bind``, like the explainers' do. A ``PredictedCell`` target
is resolved ONCE, on the clean image: every
perturbed or randomised copy is scored, and explained, for the cell the intact model predicted
(what captum, torchcam and Quantus do with an explicit class index).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..targets import Cell, Region, Target, parse_target

SCORES = ("probability", "logit")
#: (finest-cell scores [N, C], rows [N] = the image each row belongs to) -> [N] target scores
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FixedTarget:
    """A target resolved on the clean images: either one cell per image or a region."""

    target: Target
    cells: torch.Tensor | None      # [B] long, for cell targets
    region: torch.Tensor | None     # cell indices of a region target
    score: ScoreFn
    kind: str                       # "probability" or "logit"

    def explain(self, explainer, model, images, **options) -> torch.Tensor:
        """Maps [B, H, W] of ``explainer`` for this fixed target (cell targets grouped by cell);
        ``options`` override the explainer's for this call."""
        if self.cells is None:
            return explainer.explain(model, images, target=self.target, **options).detach().float().cpu()
        maps = None
        for cell in torch.unique(self.cells).tolist():
            rows = torch.nonzero(self.cells == cell).flatten()
            part = explainer.explain(model, _select(images, rows), target=Cell(int(cell)),
                                     **options).detach().float().cpu()
            if maps is None:
                maps = torch.zeros((len(self.cells), *part.shape[1:]), dtype=torch.float32)
            maps[rows] = part
        assert maps is not None  # self.cells holds one cell per image, at least one
        return maps


def maps_only(explainer) -> dict:
    """Options that switch off an explainer's per-image extras where only its maps are read (the
    randomised maps of the sanity check, the re-seeded ones of the stability check): ig-smoothgrad's
    completeness passes (``diagnostics``) cost forward passes and are never read there."""
    return {"diagnostics": False} if "diagnostics" in getattr(explainer, "defaults", {}) else {}


def intact_scores(model, x: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
    """The model's scores [B, C] on the clean input ``x``: ``known`` when the caller already made
    that forward pass (the quality worker makes it once per image for every measure), else one
    forward pass."""
    if known is not None:
        if known.shape[0] != x.shape[0]:
            raise ValueError(f"clean_scores has {known.shape[0]} rows for {x.shape[0]} images")
        return known.float()
    with torch.inference_mode():
        return model(x).float()


def fix_target(model, clean_scores: torch.Tensor, target, score: str = "probability") -> FixedTarget:
    """Resolve ``target`` (a Target or its text: predicted, cell:I, region:N, within:..., country:...)
    on the clean finest-cell scores [B, C], through the SDK's ``Target.bind``."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; use probability or logit")
    target = parse_target(target)
    bound = target.bind(model, clean_scores)
    if isinstance(target, Region):  # a summed probability: it has no logit
        region = target.resolve(model).to(clean_scores.device)
        return FixedTarget(target, None, region, lambda scores, rows: bound.score(scores, rows), "probability")
    if bound.cells is None:
        raise ValueError(f"target {target} is neither a cell nor a region; the quality measures need one of them")
    cells = bound.cells.to(clean_scores.device)

    def cell_score(scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        values = torch.softmax(scores, 1) if score == "probability" else scores
        return values.gather(1, cells[rows][:, None])[:, 0]

    return FixedTarget(target, cells, None, cell_score, score)


def _select(images, rows: torch.Tensor):
    from ..types import ImageBatch

    if isinstance(images, ImageBatch):
        return ImageBatch(images.pixels[rows], [images.ids[i] for i in rows.tolist()])
    return images[rows.to(images.device)]
