"""The public base of explainers: declared options, the target bound once, the model left as found.

A complete explainer (what every built-in does, and what a third party can do)::

    from dataclasses import dataclass
    import torch
    from geoxai.explainers.base import BaseExplainer, model_input, to_maps, untouched

    class Saliency(BaseExplainer):
        name = "saliency"

        @dataclass(frozen=True)
        class Options:
            absolute: bool = True   # |gradient| (Simonyan et al.) or the signed gradient

        def explain(self, model, images, target=None, **options):
            opts = self.resolve(**options)            # an Options instance, checked
            x = model_input(model, images)
            with untouched(model):
                inp = x.clone().requires_grad_(True)
                with torch.enable_grad():
                    logits = model(inp)
                    score = self.bind_target(model, target, logits.detach()).score(logits)
                    (grad,) = torch.autograd.grad(score.sum(), inp)
            grad = grad.abs() if opts.absolute else grad
            return to_maps(grad.amax(dim=1))

Options are the fields of the ``Options`` dataclass: constructor keywords set an instance's
defaults, ``explain(**options)`` overrides them for one call. An unknown name or a value of the
wrong type (``normalize="false"``) is a one-line ``OptionError`` listing the accepted options;
the CLI's ``-o KEY=VALUE`` strings are converted to the declared types first. A subclass may
still declare ``defaults = {...}`` instead: an ``Options`` dataclass is derived from it (types
read from the default values).
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import torch

from ..interfaces import Explainer, GeoModel
from ..options import OptionError, check_options, options_dataclass, options_from_dataclass
from ..targets import BoundTarget, Target, parse_target
from ..types import ImageBatch

__all__ = ["BaseExplainer", "BoundTarget", "OptionError", "model_input", "to_maps", "untouched"]


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """An explainer without options."""


class BaseExplainer(Explainer):
    """An explainer with declared options (``Options``, a dataclass) and the shared helpers."""

    Options: ClassVar[type] = NoOptions
    #: ``{name: default}`` of ``Options``; kept in step with it for code that reads it
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__:
            if not dataclasses.is_dataclass(cls.Options):
                raise TypeError(f"{cls.__name__}.Options must be a dataclass")
        elif "defaults" in cls.__dict__:
            cls.Options = options_dataclass(f"{cls.__name__}Options", cls.__dict__["defaults"])
        cls.defaults = {name: spec.default for name, spec in options_from_dataclass(cls.Options).items()}

    def __init__(self, **options: Any) -> None:
        super().__init__(**self.check_options(options))

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Names and types checked against ``Options`` (lists become declared tuples)."""
        return check_options(f"explainer {cls.name!r}", options_from_dataclass(cls.Options), options)

    def resolve(self, **overrides: Any) -> Any:
        """The options of one call as an ``Options`` instance: defaults < constructor < overrides."""
        return self.Options(**{**self.options, **self.check_options(overrides)})

    def resolved_options(self, **overrides: Any) -> dict[str, Any]:
        """The same as :meth:`resolve`, as a dict."""
        resolved = self.resolve(**overrides)
        return {f.name: getattr(resolved, f.name) for f in dataclasses.fields(resolved)}

    @staticmethod
    def bind_target(model: GeoModel, target: Target | str | int | None, logits: torch.Tensor | None = None,
                    inputs: torch.Tensor | None = None) -> BoundTarget:
        """``target`` bound to ``model`` and the clean images' ``logits`` [B, C] (see geoxai.targets).

        Pass the logits when the explanation computes them anyway (a CAM's one pass). Otherwise
        pass the clean ``inputs``: the model runs on them only if the target needs the clean
        logits (the predicted cell), so cell and region targets cost no extra pass."""
        target = parse_target(target)
        if logits is None and target.needs_logits:
            if inputs is None:
                raise ValueError(f"target {target} needs the clean logits or inputs to bind")
            logits = clean_logits(model, inputs)
        return target.bind(model, logits)


def model_dtype(model: GeoModel) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 for a model without any)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def model_input(model: GeoModel, images: ImageBatch | torch.Tensor) -> torch.Tensor:
    """The input [B, 3, H, W] of ``images`` on the model's device, detached, in the model's own
    dtype: a ``model.double()`` is explained in float64 (how the tests prove that two paths compute
    the same function on any CPU)."""
    x = model.as_input(images)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images [B, 3, H, W], got shape {tuple(x.shape)}")
    return x.detach().to(model_dtype(model))


def map_dtype(values: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else becomes float32."""
    return torch.float64 if values.dtype == torch.float64 else torch.float32


def clean_logits(model: GeoModel, x: torch.Tensor) -> torch.Tensor:
    """The model's scores of the clean input, without a graph (what a target binds to)."""
    with torch.no_grad():
        return model(x)


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
    """Maps as the interface returns them: on the CPU, contiguous, detached, in float32, or in
    float64 when the model computed in float64 (so a float64 computation is not rounded before it
    is compared)."""
    return maps.detach().to(map_dtype(maps)).cpu().contiguous()
