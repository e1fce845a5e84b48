"""Layer-wise Relevance Propagation with zennit's ``EpsilonPlusFlat`` composite.

Flat rule for the first convolution, z+ for the other convolutions, epsilon for linear layers,
gradient pass-through for activations and pooling. Canonizers make a ResNet LRP-ready for the
duration of the call: BatchNorm merged into the preceding convolution (``SequentialMergeBatchNorm``)
and, for torchvision ResNets, the residual additions made explicit (``zennit.torchvision.ResNetCanonizer``).
zennit undoes both on exit; ``explain`` verifies that and raises if any parameter or buffer changed.

Relevance entering the model output is the gradient of the target score w.r.t. the finest-cell
scores: one-hot for a cell target (zennit's convention), the softmax derivative for a region
(positive on the region's cells, negative elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..interfaces import GeoModel
from ..types import ImageBatch
from .base import BaseExplainer, model_input, to_maps, untouched


def resnet_canonizers(model: nn.Module) -> list:
    """The canonizers a model needs: ResNet's for torchvision residual blocks, else BN merging."""
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.torchvision import ResNetCanonizer
    from torchvision.models.resnet import BasicBlock, Bottleneck

    if any(isinstance(m, (BasicBlock, Bottleneck)) for m in model.modules()):
        return [ResNetCanonizer()]
    return [SequentialMergeBatchNorm()]


class LRP(BaseExplainer):
    name = "lrp"

    @dataclass(frozen=True)
    class Options:
        reduce: Literal["sum", "max"] = "sum"  # over the colour channels
        epsilon: float = 1e-6                  # epsilon rule (linear layers)
        stabilizer: float = 1e-6               # zennit's stabilizer of the z+ and flat rules
        canonize: bool = True                  # BatchNorm merging / ResNet canonizer

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        from zennit.composites import EpsilonPlusFlat

        opts = self.resolved_options(**options)
        if opts["reduce"] not in ("sum", "max"):
            raise ValueError(f"lrp: reduce must be 'sum' or 'max', got {opts['reduce']!r}")
        x = model_input(model, images)
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with untouched(model):
            bound = self.bind_target(model, target, inputs=x)  # resolved on the unmodified model
            composite = EpsilonPlusFlat(
                epsilon=float(opts["epsilon"]), stabilizer=float(opts["stabilizer"]),
                canonizers=resnet_canonizers(model) if opts["canonize"] else None,
            )
            inp = x.clone().requires_grad_(True)
            with composite.context(model) as modified, torch.enable_grad():
                out = bound.score(modified(inp))
                (relevance,) = torch.autograd.grad(out.sum(), inp)
        _check_restored(model, before)
        reduced = relevance.sum(1) if opts["reduce"] == "sum" else relevance.amax(1)
        return to_maps(reduced)


def _check_restored(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    for key, value in before.items():
        if key not in after or not torch.equal(after[key], value):
            raise RuntimeError(f"lrp: zennit did not restore the model ({key!r} changed)")
