"""zennit canonizers for the CNN blocks geolocation models are built from.

LRP rules are attached to layers (convolutions, linear layers, activations, pooling); operations
written inline in a block's ``forward`` get plain gradients, and plain gradients do not conserve
relevance through two of them:

* a **residual addition** ``branch + shortcut`` hands the full relevance to *both* summands, so
  every skip connection doubles it (EfficientNet-Lite0: input relevance 11x the output's);
* a **gate** ``x * g`` (squeeze-excitation) scales the relevance of ``x`` by ``g`` and sends the rest
  into the gate's small network.

Following zennit's canonizer design, the canonizers below rewrite such a block for the duration
of an explanation: the addition becomes a ``zennit.layer.Sum`` module, which the composites give
the proportional ``Norm`` rule; the gate passes all relevance to the gated signal (the
"signal-take-all" treatment of multiplicative gates, Arras et al. 2017); a functional activation
inside such a block passes relevance through unchanged, like zennit's ``Pass`` rule for activation
modules. The model computes the same function; everything is undone on ``remove``.

Covered: timm's EfficientNet/MobileNet blocks (``DepthwiseSeparableConv``, ``InvertedResidual``,
``EdgeResidual``, ``ConvBnAct``, ``UniversalInvertedResidual`` and their ``SqueezeExcite``) and timm's
``BatchNormAct2d`` (merged into the convolution before it like a plain BatchNorm); geoxai's own
EfficientNet ``MBConvBlock`` (SemP/s2 release backbones); torchvision ResNets through zennit's
``ResNetCanonizer``.
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from zennit.canonizers import Canonizer, SequentialMergeBatchNorm
from zennit.layer import Sum
from zennit.types import BatchNorm


class _PassThrough(torch.autograd.Function):
    """``f(x)`` forward; relevance (the backward quantity under zennit) passes to ``x`` unchanged."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        return fx

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def pass_through(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``function(x)``, computed without a graph, with relevance passed to ``x`` unchanged."""
    with torch.no_grad():
        fx = function(x)
    return _PassThrough.apply(x, fx)


def gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``x * g`` with all relevance to ``x`` and none to the gate ``g``."""
    return _PassThrough.apply(x, x * g.detach())


def residual_sum(block: Any, branch: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
    return block.canonizer_sum(torch.stack([branch, shortcut], dim=-1))


class MergeBatchNormAct(SequentialMergeBatchNorm):
    """``SequentialMergeBatchNorm`` that also merges BatchNorm subclasses with children of their own
    (timm's ``BatchNormAct2d``: BatchNorm + activation in one module), which zennit's leaf walk
    never sees. The activation inside stays and keeps its ``Pass`` rule.

    zennit leaves the merged BatchNorm dividing by ``sqrt(1 + eps)``; with EfficientNet's
    ``eps=1e-3`` over dozens of BatchNorms that shifts the scores by percents, so the running
    variance is set to ``1 - eps`` instead and the BatchNorm is exactly the identity."""

    @staticmethod
    def merge_batch_norm(modules, batch_norm) -> None:
        SequentialMergeBatchNorm.merge_batch_norm(modules, batch_norm)
        batch_norm.running_var.data.fill_(1.0 - batch_norm.eps)

    def apply(self, root_module: nn.Module) -> list:
        instances = []
        last = None
        for module in _leaves_and_batchnorms(root_module):
            if isinstance(last, self.linear_type) and isinstance(module, self.batch_norm_type):
                instance = self.copy()
                instance.register((last,), module)
                instances.append(instance)
            last = module
        return instances


def _leaves_and_batchnorms(module: nn.Module):
    children = list(module.children())
    if not children or isinstance(module, BatchNorm):
        yield module
        return
    for child in children:
        yield from _leaves_and_batchnorms(child)


class BlockCanonizer(Canonizer):
    """Replaces ``forward`` of every module ``applies(module)`` accepts with ``forward(module, x)``,
    adding a ``Sum`` module (``canonizer_sum``) for its residual addition; undone on ``remove``."""

    def __init__(self, applies: Callable[[nn.Module], bool],
                 forward: Callable[[nn.Module, torch.Tensor], torch.Tensor]):
        super().__init__()
        self.applies, self.forward = applies, forward
        self.module: nn.Module | None = None

    def apply(self, root_module: nn.Module) -> list:
        instances = []
        for module in root_module.modules():
            if self.applies(module):
                instance = self.copy()
                instance.register(module)
                instances.append(instance)
        return instances

    def register(self, module: nn.Module) -> None:
        self.module = module
        module.canonizer_sum = Sum()
        module.forward = types.MethodType(self.forward, module)

    def remove(self) -> None:
        module = self.module
        if module is not None:
            del module.forward  # the instance attribute; the class's forward is visible again
            del module.canonizer_sum
            self.module = None

    def copy(self) -> BlockCanonizer:
        return type(self)(self.applies, self.forward)


# ---- timm ----------------------------------------------------------------------------------------
def _timm_skip_block(module: nn.Module) -> bool:
    return getattr(module, "has_skip", False) is True and hasattr(module, "drop_path") \
        and type(module).__module__.startswith("timm.")


def _timm_skip_forward(block: Any, x: torch.Tensor) -> torch.Tensor:
    # the class's own forward without its skip (drop_path is the identity in eval mode)
    block.has_skip = False
    try:
        branch = type(block).forward(block, x)
    finally:
        block.has_skip = True
    return residual_sum(block, branch, x)


def _timm_squeeze_excite(module: nn.Module) -> bool:
    return type(module).__name__ == "SqueezeExcite" and type(module).__module__.startswith("timm.") \
        and all(hasattr(module, a) for a in ("conv_reduce", "act1", "conv_expand", "gate"))


def _timm_se_forward(se: Any, x: torch.Tensor) -> torch.Tensor:
    x_se = x.mean((2, 3), keepdim=True)
    g = se.gate(se.conv_expand(se.act1(se.conv_reduce(x_se))))
    return gate(x, g)


def timm_canonizers() -> list[Canonizer]:
    # SE first: the skip forward calls the block's own forward, which calls the (rewritten) SE
    return [BlockCanonizer(_timm_squeeze_excite, _timm_se_forward),
            BlockCanonizer(_timm_skip_block, _timm_skip_forward)]


# ---- geoxai's EfficientNet (models/backbones.py) -------------------------------------------------
def _geoxai_mbconv(module: nn.Module) -> bool:
    return type(module).__name__ == "MBConvBlock" and type(module).__module__ == "geoxai.models.backbones"


def _geoxai_mbconv_forward(block: Any, inputs: torch.Tensor) -> torch.Tensor:
    # MBConvBlock.forward, with its inline SiLUs, SE gate and residual addition canonized
    x = inputs
    if hasattr(block, "_expand_conv"):
        x = pass_through(F.silu, block._bn0(block._expand_conv(x)))
    x = pass_through(F.silu, block._bn1(block._depthwise_conv(x)))
    g = torch.sigmoid(block._se_expand(F.silu(block._se_reduce(F.adaptive_avg_pool2d(x, 1)))))
    x = block._bn2(block._project_conv(gate(x, g)))
    return residual_sum(block, x, inputs) if block.residual else x


def geoxai_canonizers() -> list[Canonizer]:
    return [BlockCanonizer(_geoxai_mbconv, _geoxai_mbconv_forward)]


class _DepthwiseMeta(type):
    def __instancecheck__(cls, module) -> bool:
        return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


class DepthwiseConvolution(metaclass=_DepthwiseMeta):
    """Matches depthwise convolutions (``groups == in_channels``) in a zennit layer map.

    The z+ rule loses the relevance of an output whose k x k inputs all contribute negatively,
    which is common in a depthwise convolution after SiLU (negative activations, 9-25 inputs per
    output): 12-16 % of the relevance of an EfficientNet-B0/B4. The epsilon rule distributes by the
    signed contributions and conserves it, so LRP gives depthwise convolutions that rule."""


def canonizers_for(model: nn.Module) -> list[Canonizer]:
    """The canonizers ``model`` needs: zennit's for torchvision ResNets, geoxai's for timm and
    geoxai EfficientNet blocks, and BatchNorm merging (incl. timm's ``BatchNormAct2d``) for all."""
    found: list[Canonizer] = []
    modules = list(model.modules())
    try:
        from torchvision.models.resnet import BasicBlock, Bottleneck
    except ImportError:  # pragma: no cover - torchvision is a dependency
        BasicBlock = Bottleneck = ()
    if any(isinstance(m, (BasicBlock, Bottleneck)) for m in modules):
        from zennit.torchvision import ResNetCanonizer

        return [ResNetCanonizer()]  # merges the BatchNorms itself
    if any(_geoxai_mbconv(m) for m in modules):
        found += geoxai_canonizers()
    if any(_timm_skip_block(m) or _timm_squeeze_excite(m) for m in modules):
        found += timm_canonizers()
    return [*found, MergeBatchNormAct()]
