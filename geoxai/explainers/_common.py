"""What every built-in explainer shares: option merging, input/target handling and a guard that
leaves the model exactly as it was found (eval mode, ``requires_grad`` flags, no ``.grad``)."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch

from ..interfaces import Explainer, GeoModel
from ..targets import Cell, PredictedCell, Region, Target, parse_target, region_probability
from ..types import ImageBatch

#: (scores [N, C], rows [N] = which image of the batch each row belongs to) -> [N] scalars
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class BaseExplainer(Explainer):
    """Options: constructor keywords are defaults, ``explain(**options)`` overrides them per call."""

    defaults: dict[str, Any] = {}

    def __init__(self, **options: Any) -> None:
        self._check(options)
        super().__init__(**options)

    def _check(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"explainer {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(self.defaults))}"
            )

    def resolved_options(self, **overrides: Any) -> dict[str, Any]:
        self._check(overrides)
        return {**self.defaults, **self.options, **overrides}


def model_dtype(model: GeoModel) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 for a model without any)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def model_input(model: GeoModel, images: ImageBatch | torch.Tensor) -> torch.Tensor:
    """The model's input, detached, in the model's own dtype: a ``model.double()`` is explained
    in float64 (how the tests prove that two paths compute the same function on any CPU)."""
    x = model.as_input(images)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images [B, 3, H, W], got shape {tuple(x.shape)}")
    return x.detach().to(model_dtype(model))


def map_dtype(values: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else becomes float32."""
    return torch.float64 if values.dtype == torch.float64 else torch.float32


def fixed_target(model: GeoModel, x: torch.Tensor, target: Target | str | None) -> tuple[Target, ScoreFn]:
    """Resolve the target once on the clean input and return a score function for any rows.

    ``PredictedCell`` becomes the cell predicted for each *clean* image, so noisy copies and
    points on an integration path are scored for the same cell (what captum does with an
    explicit ``target=``)."""
    target = parse_target(target)
    if isinstance(target, PredictedCell):
        with torch.no_grad():
            cells = target.cells(model, model(x)).to(x.device)

        def score(scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return scores.gather(1, cells[rows][:, None])[:, 0]

        return target, score
    if isinstance(target, Cell):
        with torch.no_grad():
            target._checked(model(x[:1]))
    if isinstance(target, Region):
        # resolved once here, not on every forward pass of an explainer's inner loop
        region = target.resolve(model).to(x.device)

        def score(scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return region_probability(scores, region)

        return target, score

    def score(scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return target.score(model, scores)

    return target, score


@contextlib.contextmanager
def untouched(model: GeoModel) -> Iterator[None]:
    """Eval mode and frozen parameters while explaining; everything restored afterwards.

    Freezing means gradients flow to the input only: no parameter ``.grad`` is ever written and
    backward skips the weight-gradient kernels."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def to_maps(maps: torch.Tensor) -> torch.Tensor:
    """Maps on the CPU in float32, or in float64 when the model computed in float64 (so that a
    float64 computation is not rounded before it is compared)."""
    return maps.detach().to(map_dtype(maps)).cpu().contiguous()
