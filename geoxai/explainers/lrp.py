"""Layer-wise Relevance Propagation with zennit's ``EpsilonPlusFlat`` composite.

Flat rule for the first convolution, z+ for the other convolutions, epsilon for linear layers,
gradient pass-through for activations and pooling. Canonizers make a ResNet LRP-ready for the
duration of the call: BatchNorm merged into the preceding convolution (``SequentialMergeBatchNorm``)
and, for torchvision ResNets, the residual additions made explicit (``zennit.torchvision.ResNetCanonizer``).
zennit undoes both on exit; ``explain`` verifies that and raises if any parameter or buffer changed.

Relevance entering the model output is the gradient of the target score w.r.t. the finest-cell
scores: one-hot for a cell target (zennit's convention), the softmax derivative for a region
(positive on the region's cells, negative elsewhere).

Models with a vision transformer use the conservative transformer rules instead
(``lrp_transformer``: gradient x input with LayerNorm, softmax and GELU gates as constants).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..interfaces import GeoModel
from ..types import ImageBatch
from ._common import BaseExplainer, fixed_target, model_input, to_maps, untouched
from .lrp_transformer import conservative_relevance, has_transformer


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
    defaults: dict[str, Any] = {"reduce": "sum", "epsilon": 1e-6, "stabilizer": 1e-6, "canonize": True}

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        from zennit.composites import EpsilonPlusFlat

        opts = self.resolved_options(**options)
        if opts["reduce"] not in ("sum", "max"):
            raise ValueError(f"lrp: reduce must be 'sum' or 'max', got {opts['reduce']!r}")
        x = model_input(model, images)
        if has_transformer(model):  # Ali et al.'s conservative rules; zennit's need no transformer
            with untouched(model):
                relevance = conservative_relevance(model, x, fixed_target(model, x, target)[1])
            return to_maps(relevance.sum(1) if opts["reduce"] == "sum" else relevance.amax(1))
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with untouched(model):
            _, score = fixed_target(model, x, target)  # resolved on the unmodified model
            composite = EpsilonPlusFlat(
                epsilon=float(opts["epsilon"]), stabilizer=float(opts["stabilizer"]),
                canonizers=resnet_canonizers(model) if opts["canonize"] else None,
            )
            inp = x.clone().requires_grad_(True)
            with composite.context(model) as modified, torch.enable_grad():
                out = score(modified(inp), torch.arange(x.shape[0], device=x.device))
                (relevance,) = torch.autograd.grad(out.sum(), inp)
        _check_restored(model, before)
        reduced = relevance.sum(1) if opts["reduce"] == "sum" else relevance.amax(1)
        return to_maps(reduced)


def _check_restored(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    for key, value in before.items():
        if key not in after or not torch.equal(after[key], value):
            raise RuntimeError(f"lrp: zennit did not restore the model ({key!r} changed)")
