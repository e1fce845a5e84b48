"""Conservative LRP for transformers (Ali et al., ICML 2022, "XAI for Transformers: Better
Explanations through Conservative Propagation").

Plain gradient x input through a transformer is not conserved: LayerNorm's division by the standard
deviation and the attention softmax are not (locally) linear. Ali et al. treat both as constants
in the backward pass, i.e. ``(x - mean) / std.detach()`` and ``A.detach() @ V``; the remaining network
is then linear in its input up to element-wise gates, and gradient x input is LRP-0 on every linear
layer (patch embedding included) with relevance conserved from the explained score to the pixels
(exactly when biases and other constants are zero; they absorb their share otherwise).

Element-wise gated activations (GELU = x·Φ(x), tanh-GELU, QuickGELU = x·σ(1.702x), SiLU) get the
same idea: ``x · gate.detach()`` with gate = act(x)/x. The forward value is unchanged and the
relevance passes the activation unchanged (R_in = x·gate·∂y = y·∂y = R_out), which is how ReLU is
treated by LRP-0 (its 0/1 gate is constant almost everywhere) and the identity rule AttnLRP
(Achtibat et al., ICML 2024) proves right for element-wise non-linearities. ``geoxai.vit.L2Normalize``
(cosine heads of CLIP-style models) has its norm detached like LayerNorm's std.

``conservative_rules(model)`` installs forward hooks (LayerNorm, gates, L2Normalize) and the eager,
detached attention of ``geoxai.vit.eager_attention`` for one ``with`` block and removes all of them.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch
from torch import nn

from ..vit import L2Normalize, eager_attention, find_vits

#: element-wise activations of the form x * gate(x) with gate(0) = 1/2 (torch, timm, transformers names)
GATED = re.compile(r"GELU|SiLU|Swish", re.IGNORECASE)


def has_transformer(model: nn.Module) -> bool:
    return bool(find_vits(model))


def _layernorm_hook(module: nn.LayerNorm, inputs, output):
    x = inputs[0]
    dims = tuple(range(-len(module.normalized_shape), 0))
    centred = x - x.mean(dims, keepdim=True)
    std = (centred.pow(2).mean(dims, keepdim=True) + module.eps).sqrt()
    y = centred / std.detach()
    if module.weight is not None:
        y = y * module.weight
    if module.bias is not None:
        y = y + module.bias
    return y


def _gate_hook(module: nn.Module, inputs, output):
    x = inputs[0]
    zero = x == 0
    gate = torch.where(zero, torch.full_like(output, 0.5), output / torch.where(zero, torch.ones_like(x), x))
    return x * gate.detach()


def _l2_hook(module: L2Normalize, inputs, output):
    x = inputs[0]
    return x / x.norm(dim=module.dim, keepdim=True).clamp_min(module.eps).detach()


@contextlib.contextmanager
def conservative_rules(model: nn.Module) -> Iterator[None]:
    """Make gradient x input of ``model`` conservative LRP for one ``with`` block."""
    handles = []
    try:
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                handles.append(module.register_forward_hook(_layernorm_hook))
            elif isinstance(module, L2Normalize):
                handles.append(module.register_forward_hook(_l2_hook))
            elif GATED.search(type(module).__name__) and not list(module.children()):
                handles.append(module.register_forward_hook(_gate_hook))
        with eager_attention(model, detach=True, every_mha=True):
            yield
    finally:
        for handle in handles:
            handle.remove()


def conservative_relevance(model: nn.Module, x: torch.Tensor, score) -> torch.Tensor:
    """Input relevance [B, 3, H, W] = x * d(score)/dx under the conservative rules, ``score`` mapping
    the model's output [B, C] to [B] (a bound target's ``score``); it sums to the score's
    linearisation (the explained logit for a cell target, with biases off)."""
    inp = x.clone().requires_grad_(True)
    with conservative_rules(model), torch.enable_grad():
        out = score(model(inp))
        (grad,) = torch.autograd.grad(out.sum(), inp)
    return (inp * grad).detach()
