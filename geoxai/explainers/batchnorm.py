"""Fold eval-mode BatchNorm into the convolution that feeds it, for the duration of an explanation.

In eval mode a BatchNorm is an affine map per channel, so ``bn(conv(x))`` equals one convolution
with rescaled weights and a bias. Gradient-based explainers run the model hundreds of times per
image, and on a CPU the BatchNorm passes (forward and backward) are pure memory traffic: folding
them removes that traffic without changing the function, only float rounding.

Which convolution feeds which BatchNorm is read from one probe forward pass (a BatchNorm whose
input is the very tensor a convolution returned), so it works for any ``nn.Module`` without
tracing. A convolution whose output also went elsewhere would be folded wrongly, so the model's
output on the probe is compared before and after; on a mismatch nothing is folded.

``folded_network`` builds the folded network beside the model (new module objects only along the
paths to the folded pairs; every other module and parameter is shared), so threads explaining
the same model never see it half-folded; ``batchnorm_folded`` swaps the modules in place for the
duration of a block. Besides torch's own BatchNorms, the norm-plus-activation modules in
``NORM_ACT`` fold too (timm's ``BatchNormAct2d``: what remains is its drop and act modules).
"""
from __future__ import annotations

import contextlib
import copy
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
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
#: norm + activation modules (by class path, so the library need not be installed) -> what is left
#: of one once its BatchNorm is folded into the convolution before it
NORM_ACT: dict[str, Callable[[nn.Module], nn.Module]] = {
    # timm: F.batch_norm, then self.drop, then self.act (timm/layers/norm_act.py)
    "timm.layers.norm_act.BatchNormAct2d": lambda bn: nn.Sequential(cast(nn.Module, bn.drop), cast(nn.Module, bn.act)),
}


def _class_path(module: nn.Module) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def _foldable_norm(module: nn.Module) -> bool:
    return type(module) in _BATCHNORMS or _class_path(module) in NORM_ACT


def _after_folding(bn: nn.Module) -> nn.Module:
    rest = NORM_ACT.get(_class_path(bn))
    return nn.Identity() if rest is None else rest(bn)


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
            elif (_foldable_norm(module) and getattr(module, "running_mean", None) is not None
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


#: model -> (its structure, the pairs found, whether folding them changed the output): probing is
#: structural, so it runs once per model structure and input shape, not once per explanation
_PROBED: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, list[tuple[str, str]], bool]] = (
    weakref.WeakKeyDictionary())


def folded_network(model: nn.Module, probe: torch.Tensor, warn: bool = True) -> tuple[nn.Module, int]:
    """(network, number of folded pairs): a module computing ``model``'s function with every
    foldable conv -> BatchNorm pair of ``model`` (in eval mode) folded, or ``(model, 0)`` when
    nothing folds. ``model`` itself is never changed: the network shares every module and parameter
    that folding leaves alone, and is new only along the paths to the folded pairs.

    The pairs are found (and the folded output checked) on the first call for a model structure
    and input shape; later calls only fold the current weights."""
    if model.training or not any(_foldable_norm(m) for m in model.modules()):
        return model, 0  # nothing to fold: not even the probe pass
    structure = _structure(model, probe)
    known = _PROBED.get(model)
    if known is not None and known[0] == structure:
        _, pairs, changed = known
        if changed and warn:
            _warn_changed()
        if changed or not pairs:
            return model, 0
        return _rebuilt(model, "", _replacements(model, pairs)), len(pairs)
    pairs, output = _probe(model, probe)
    network, changed = model, False
    if pairs:
        network = _rebuilt(model, "", _replacements(model, pairs))
        with torch.no_grad():
            changed = not _same(_flat_output(output), _flat_output(network(probe)))
    _PROBED[model] = (structure, pairs, changed)
    if changed:
        if warn:
            _warn_changed()
        return model, 0
    return network, len(pairs)


def _structure(model: nn.Module, probe: torch.Tensor) -> tuple:
    """What the pairs depend on: which module objects (of which types) sit where (whether they are training,
    and for convolutions and BatchNorms whether they are hooked), and the input's shape, type and
    device."""
    def hooked(m: nn.Module) -> bool:
        return isinstance(m, _CONVS + _BATCHNORMS) and bool(m._forward_hooks or m._forward_pre_hooks)

    modules = tuple((name, id(m), type(m), m.training, hooked(m))
                    for name, m in model.named_modules(remove_duplicate=False))
    return modules, tuple(probe.shape[1:]), probe.dtype, probe.device


@contextlib.contextmanager
def batchnorm_folded(model: nn.Module, probe: torch.Tensor, enabled: bool = True) -> Iterator[int]:
    """Within the block, every foldable conv -> BatchNorm pair of ``model`` (in eval mode) is one
    folded convolution; the original modules are put back afterwards, also on errors. Yields the
    number of folded pairs. (In place: for a model other threads may use meanwhile, explain with
    ``folded_network`` instead.)"""
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
        for name, new in _replacements(model, pairs).items():
            _swap(model, name, new, swapped)
        with torch.no_grad():
            after = _flat_output(model(probe))
        if not _same(before, after):
            _warn_changed(stacklevel=4)
            _restore(swapped)
            yield 0
            return
        yield len(pairs)
    finally:
        _restore(swapped)


def _replacements(model: nn.Module, pairs: list[tuple[str, str]]) -> dict[str, nn.Module]:
    """{module name: its stand-in}: each folded convolution, and what is left of its BatchNorm."""
    out: dict[str, nn.Module] = {}
    for conv_name, bn_name in pairs:
        bn = model.get_submodule(bn_name)
        # _probe pairs only convolutions with the BatchNorm they feed
        folded = fuse_conv_bn_eval(cast(nn.Conv2d, model.get_submodule(conv_name)), cast(_BatchNorm, bn))
        for param in folded.parameters():
            param.requires_grad_(False)
        out[conv_name], out[bn_name] = folded, _after_folding(bn)
    return out


def _rebuilt(module: nn.Module, prefix: str, replacements: dict[str, nn.Module]) -> nn.Module:
    """``module`` with the named submodules replaced: a shallow copy of every module on a path to
    a replacement (its own child table, everything else shared), ``module`` itself when none."""
    changed: dict[str, nn.Module] = {}
    for name, child in module._modules.items():
        full = prefix + name
        if full in replacements:
            changed[name] = replacements[full]
        elif child is not None and any(key.startswith(full + ".") for key in replacements):
            changed[name] = _rebuilt(child, full + ".", replacements)
    if not changed:
        return module
    clone = copy.copy(module)
    clone.__dict__["_modules"] = {**module._modules, **changed}
    return clone


def _warn_changed(stacklevel: int = 3) -> None:
    warnings.warn("fold_batchnorm: folding BatchNorm into convolutions changed this model's output "
                  "(a convolution's output is used by more than its BatchNorm); explaining without "
                  "folding", UserWarning, stacklevel=stacklevel)


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
