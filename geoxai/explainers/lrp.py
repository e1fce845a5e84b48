"""Layer-wise Relevance Propagation with zennit's ``EpsilonPlusFlat`` composite.

Flat rule for the first convolution, z+ for the other convolutions (epsilon for depthwise ones, see
``canonizers.DepthwiseConvolution``; ``depthwise_rule="zplus"`` gives zennit's plain composite), epsilon for linear
layers, pass-through for activations and BatchNorm, the proportional ``Norm`` rule for sums and average
pooling. Canonizers (``geoxai.explainers.canonizers``) make the model LRP-ready for the duration of
the call: BatchNorm merged into the preceding convolution, residual additions made explicit
(torchvision ResNets, timm and geoxai EfficientNet blocks), squeeze-excitation gates passing
relevance to the gated signal. zennit undoes them on exit; ``explain`` verifies that and raises if
any parameter or buffer changed, and checks that the canonized model computed the same scores.

Relevance entering the model output is the gradient of the target score w.r.t. the finest-cell
scores: one-hot for a cell target (zennit's convention), the softmax derivative for a region
(positive on the region's cells, negative elsewhere). The biases absorb their share of the relevance
(on the real EfficientNet-Lite0 nearly all: the map sums to ~1e-5 of it; docs/explainers.md), so the
map is relative, not a share of the score. With ``ignore_bias=True`` the rules leave the biases out
(zennit's ``zero_params="bias"``): conserved where the pre-activations without biases stay away from
zero, but not on networks whose (BatchNorm-folded) biases dominate them, where relevance explodes
into huge values of both signs.

Models with a vision transformer use the conservative transformer rules instead
(``lrp_transformer``: gradient x input with LayerNorm, softmax and GELU gates as constants; the
relevance there sums to the explained logit itself, Ali et al.'s convention).
"""
from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..interfaces import GeoModel
from ..options import PositiveFloat
from ..types import ImageBatch
from .base import BaseExplainer, model_input, to_maps, untouched
from .canonizers import DepthwiseConvolution, canonizers_for
from .lrp_rules import NonNegativeZPlus
from .lrp_transformer import conservative_relevance, has_transformer


class LRPCoverageWarning(UserWarning):
    """Some layers of the model get no LRP rule; relevance through them follows the plain gradient."""


class LRP(BaseExplainer):
    name = "lrp"

    @dataclass(frozen=True)
    class Options:
        reduce: Literal["sum", "max"] = "sum"  # over the colour channels
        epsilon: PositiveFloat = 1e-6          # epsilon rule (linear layers, depthwise convolutions)
        stabilizer: PositiveFloat = 1e-6       # zennit's stabilizer of the z+ and flat rules
        canonize: bool = True                  # BatchNorm merging, explicit residuals, SE gates
        ignore_bias: bool = False              # zennit's zero_params="bias" (see the module doc)
        depthwise_rule: Literal["epsilon", "zplus"] = "epsilon"

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        from zennit.composites import EpsilonPlusFlat
        from zennit.rules import Epsilon
        from zennit.types import Convolution

        opts = self.resolved_options(**options)
        if opts["reduce"] not in ("sum", "max"):
            raise ValueError(f"lrp: reduce must be 'sum' or 'max', got {opts['reduce']!r}")
        if opts["depthwise_rule"] not in ("epsilon", "zplus"):
            raise ValueError(f"lrp: depthwise_rule must be 'epsilon' or 'zplus', got {opts['depthwise_rule']!r}")
        x = model_input(model, images)
        if has_transformer(model):  # Ali et al.'s conservative rules; zennit's need no transformer
            with untouched(model):
                relevance = conservative_relevance(model, x, self.bind_target(model, target, inputs=x).score)
            return to_maps(relevance.sum(1) if opts["reduce"] == "sum" else relevance.amax(1))
        with untouched(model):
            canonizers = canonizers_for(model) if opts["canonize"] else None
            zero_params = "bias" if opts["ignore_bias"] else None
            rules = [(Convolution, NonNegativeZPlus(stabilizer=float(opts["stabilizer"]), zero_params=zero_params))]
            if opts["depthwise_rule"] == "epsilon":  # first match wins: depthwise before the other convolutions
                rules.insert(0, (DepthwiseConvolution, Epsilon(epsilon=float(opts["epsilon"]),
                                                               zero_params=zero_params)))
            composite = EpsilonPlusFlat(
                epsilon=float(opts["epsilon"]), stabilizer=float(opts["stabilizer"]), canonizers=canonizers,
                zero_params=zero_params, layer_map=rules,
            )
            # the relevance pass's own scores bind the target: no separate clean forward. That the
            # canonized model computes the model's scores is proved once per model and parameter state.
            state = parameters_fingerprint(model)
            clean = _clean_scores_if_unproved(model, x, state) if canonizers else None
            inp = x.clone().requires_grad_(True)
            with restored_exactly(model), composite.context(model) as modified, torch.enable_grad():
                _warn_uncovered(modified, composite)
                scores = modified(inp)
                if clean is not None:
                    _check_same_scores(clean, scores.detach())
                    _CANONIZATION_PROVED[model] = state
                bound = self.bind_target(model, target, scores.detach())
                out = bound.score(scores)
                (relevance,) = torch.autograd.grad(out.sum(), inp)
        reduced = relevance.sum(1) if opts["reduce"] == "sum" else relevance.amax(1)
        return to_maps(reduced)


# layers that need no rule: relevance passes through them correctly by plain gradient
_NEUTRAL = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
            nn.AdaptiveMaxPool2d, nn.Unflatten)


def uncovered_layers(model: nn.Module, composite) -> list[str]:
    """Names of the leaf layers with parameters or of unknown kinds that ``composite`` gives no rule."""
    ruled = tuple(t for types, _ in composite.layer_map for t in (types if isinstance(types, tuple) else (types,)))
    missing = []
    for name, module in model.named_modules():
        if next(module.children(), None) is not None or isinstance(module, _NEUTRAL + ruled):
            continue
        missing.append(f"{type(module).__name__} ({name})")
    return missing


def _warn_uncovered(model: nn.Module, composite) -> None:
    missing = uncovered_layers(model, composite)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        warnings.warn(f"lrp: no LRP rule covers {shown}; relevance through them follows the plain gradient, "
                      "so it may not be conserved", LRPCoverageWarning, stacklevel=4)


def _check_same_scores(clean: torch.Tensor, canonized: torch.Tensor) -> None:
    scale = float(clean.abs().max()) if clean.numel() else 0.0
    if not torch.allclose(canonized, clean, rtol=1e-3, atol=1e-3 * max(scale, 1e-12)):
        worst = float((canonized - clean).abs().max())
        raise RuntimeError(f"lrp: the canonized model computes other scores than the model (max difference "
                           f"{worst:.3g}); explain with canonize=False or add a canonizer for this architecture")


#: models whose canonized scores were compared with their own, with the parameter state then
_CANONIZATION_PROVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: models whose every parameter and buffer value was seen restored after a call, with the state then
_RESTORE_PROVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def parameters_fingerprint(model: nn.Module) -> tuple:
    """Which tensor objects and storages hold the model's state, and their in-place version counters:
    any replacement or in-place write through autograd-visible ops changes it."""
    return tuple((name, id(t), t.data_ptr(), t._version)
                 for name, t in (*model.named_parameters(), *model.named_buffers()))


def _clean_scores_if_unproved(model: nn.Module, x: torch.Tensor, state: tuple) -> torch.Tensor | None:
    if _CANONIZATION_PROVED.get(model) == state:
        return None
    with torch.no_grad():
        return model(x)


@contextlib.contextmanager
def restored_exactly(model: nn.Module) -> Iterator[None]:
    """Raise if the model's state is not what it was after the canonizers are undone. The first call on
    a model (and on every new parameter state) compares every value; later calls compare the
    fingerprint (objects, storages, version counters), which costs nothing next to a snapshot."""
    before = parameters_fingerprint(model)
    snapshot = None
    if _RESTORE_PROVED.get(model) != before:
        snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    yield
    if snapshot is not None:
        after = model.state_dict()
        for key, value in snapshot.items():
            if key not in after or not torch.equal(after[key], value):
                raise RuntimeError(f"lrp: zennit did not restore the model ({key!r} changed)")
    if parameters_fingerprint(model) != before:
        raise RuntimeError("lrp: zennit did not restore the model (a parameter or buffer was replaced)")
    _RESTORE_PROVED[model] = before
