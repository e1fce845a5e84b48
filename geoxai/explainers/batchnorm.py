"""Fold eval-mode BatchNorm into the convolution that feeds it, for the duration of an explanation.

In eval mode a BatchNorm is an affine map per channel, so ``bn(conv(x))`` equals one convolution
with rescaled weights and a bias. Gradient-based explainers run the model hundreds of times per
image, and on a CPU the BatchNorm passes (forward and backward) are pure memory traffic: folding
them removes that traffic without changing the function, only float rounding.

Which convolution feeds which BatchNorm is read from one probe forward pass (a BatchNorm whose
input is the very tensor a convolution returned), so it works for any ``nn.Module`` without
tracing. A convolution whose output also went elsewhere would be folded wrongly, so the model's
output on the probe is compared before and after; on a mismatch nothing is folded.
"""
from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

# BatchNorm: exact types only, subclasses (timm's BatchNormAct2d, ...) may do more than the affine
# map. Convolutions: subclasses too (EfficientNet's static "same" padding); one that transforms
# its weight in forward (weight standardisation) fails the probe check and nothing is folded.
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def conv_batchnorm_pairs(model: nn.Module, probe: torch.Tensor) -> list[tuple[str, str]]:
    """(conv name, batchnorm name) pairs where the BatchNorm directly normalises the conv's output.

    Only modules in eval mode called exactly once in the probe pass, BatchNorms with running
    statistics (without them, eval mode normalises with batch statistics) and modules without
    hooks of their own qualify."""
    return _probe(model, probe)[0]


def _probe(model: nn.Module, probe: torch.Tensor) -> tuple[list[tuple[str, str]], Any]:
    """The foldable pairs and the model's output on ``probe``, from one forward pass."""
    names = {module: name for name, module in model.named_modules(remove_duplicate=False)}
    calls: Counter[nn.Module] = Counter()
    produced: dict[int, tuple[nn.Module, torch.Tensor]] = {}
    fed: list[tuple[nn.Module, nn.Module]] = []

    def after_conv(module, _args, output):
        calls[module] += 1
        if isinstance(output, torch.Tensor):
            produced[id(output)] = (module, output)  # keep the tensor alive so its id stays unique

    def before_batchnorm(module, args):
        calls[module] += 1
        source = produced.get(id(args[0])) if args else None
        if source is not None and source[1] is args[0]:
            fed.append((source[0], module))

    handles = []
    try:
        for module in names:
            if isinstance(module, _CONVS) and not module._forward_hooks and not module._forward_pre_hooks:
                handles.append(module.register_forward_hook(after_conv))
            elif (type(module) in _BATCHNORMS and module.running_mean is not None
                  and not module._forward_hooks and not module._forward_pre_hooks):
                handles.append(module.register_forward_pre_hook(before_batchnorm))
        with torch.no_grad():
            output = model(probe)
    finally:
        for handle in handles:
            handle.remove()
    pairs = [(names[conv], names[bn]) for conv, bn in fed
             if calls[conv] == 1 and calls[bn] == 1 and not conv.training and not bn.training]
    return pairs, output


@contextlib.contextmanager
def batchnorm_folded(model: nn.Module, probe: torch.Tensor, enabled: bool = True) -> Iterator[int]:
    """Within the block, every foldable conv -> BatchNorm pair of ``model`` (in eval mode) is one
    folded convolution; the original modules are put back afterwards, also on errors. Yields the
    number of folded pairs."""
    if not enabled or model.training:
        yield 0
        return
    pairs, output = _probe(model, probe)
    if not pairs:
        yield 0
        return
    before = _flat_output(output)
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for conv_name, bn_name in pairs:
            # _probe pairs only convolutions with the BatchNorm they feed
            folded = fuse_conv_bn_eval(cast(nn.Conv2d, model.get_submodule(conv_name)),
                                       cast(_BatchNorm, model.get_submodule(bn_name)))
            for param in folded.parameters():
                param.requires_grad_(False)
            _swap(model, conv_name, folded, swapped)
            _swap(model, bn_name, nn.Identity(), swapped)
        with torch.no_grad():
            after = _flat_output(model(probe))
        if not _same(before, after):
            warnings.warn("fold_batchnorm: folding BatchNorm into convolutions changed this model's output "
                          "(a convolution's output is used by more than its BatchNorm); explaining without "
                          "folding", UserWarning, stacklevel=3)
            _restore(swapped)
            yield 0
            return
        yield len(pairs)
    finally:
        _restore(swapped)


def _swap(model: nn.Module, name: str, new: nn.Module, swapped: list) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    swapped.append((parent, child, parent._modules[child]))
    parent._modules[child] = new


def _restore(swapped: list) -> None:
    while swapped:
        parent, child, original = swapped.pop()
        parent._modules[child] = original


def _flat_output(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output.float()]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _flat_output(item)]
    return []


def _same(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    if len(before) != len(after) or not before:
        return False
    for a, b in zip(before, after):
        if a.shape != b.shape:
            return False
        scale = float(a.abs().max()) if a.numel() else 0.0
        if not torch.allclose(a, b, rtol=1e-3, atol=1e-4 * max(scale, 1e-12)):
            return False
    return True
