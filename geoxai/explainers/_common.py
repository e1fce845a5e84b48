"""Deprecated: the explainer helpers moved to the public :mod:`geoxai.explainers.base`.

Kept importable for code written against the old private module; ``fixed_target`` is a thin
wrapper over ``Target.bind`` and warns.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from ..interfaces import GeoModel
from ..targets import Target, parse_target
from .base import BaseExplainer, clean_logits, map_dtype, model_dtype, model_input, to_maps, untouched

__all__ = ["BaseExplainer", "ScoreFn", "fixed_target", "map_dtype", "model_dtype", "model_input", "to_maps",
           "untouched"]

#: (scores [N, C], rows [N] = which image of the batch each row belongs to) -> [N] scalars
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fixed_target(model: GeoModel, x: torch.Tensor, target: Target | str | None) -> tuple[Target, ScoreFn]:
    """Deprecated: use ``parse_target(target).bind(model, logits).score`` (or
    ``BaseExplainer.bind_target``)."""
    warnings.warn("geoxai.explainers._common.fixed_target is deprecated; use Target.bind(model, logits)",
                  DeprecationWarning, stacklevel=2)
    target = parse_target(target)
    bound = target.bind(model, clean_logits(model, x) if target.needs_logits else None)
    return target, bound.score
