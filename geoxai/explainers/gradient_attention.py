"""Gradient-weighted attention relevance (Chefer, Gur & Wolf, ICCV 2021, "Generic Attention-model
Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers"), self-attention case.

Relevance between tokens starts as R = I (each token is its own source). For each block, in forward
order, with A its softmax attention probabilities [heads, N, N] and ∇A = ∂y_t/∂A the gradient of the
target score y_t:  Ā = E_h[(∇A ⊙ A)^+]  (gradient-weighted, positive part, averaged over heads),
then R ← R + Ā · R (the residual keeps R, attention mixes relevance through the block). The class
token's row of R over the patch tokens is the map. Unlike rollout the map depends on the target.

``last_blocks=k`` starts R = I at the k-th block from the end (the paper uses all blocks; early
blocks add background artefacts). One forward and one backward pass; no parameter gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..interfaces import GeoModel
from ..options import PositiveInt
from ..types import ImageBatch
from ..vit import eager_attention
from ._attention import last_blocks, model_vit, token_map
from .base import BaseExplainer, model_input, to_maps, untouched


def relevance_update(probabilities: list[torch.Tensor], gradients: list[torch.Tensor]) -> torch.Tensor:
    """The rule above over the given blocks (forward order) -> [B, N, N]."""
    b, _, n, _ = probabilities[0].shape
    relevance = torch.eye(n, dtype=torch.float64, device=probabilities[0].device).expand(b, n, n)
    for probs, grad in zip(probabilities, gradients):
        weighted = (grad.double() * probs.double()).clamp(min=0).mean(1)
        relevance = relevance + weighted @ relevance
    return relevance


class GradientAttention(BaseExplainer):
    name = "gradient-attention"

    @dataclass(frozen=True)
    class Options:
        last_blocks: PositiveInt | None = None  # start at the k-th block from the end (None: every block)
        normalize: bool = False         # min-max scale each map to [0, 1]
        align_corners: bool = False     # bilinear upsampling corners of the token grid

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        opts = self.resolved_options(**options)
        vit = model_vit(model, self.name)
        x = model_input(model, images)
        inp = x.clone().requires_grad_(True)  # so attention needs grad even with frozen weights
        with untouched(model):
            with eager_attention(model) as probabilities, torch.enable_grad():
                logits = model(inp)
                score = self.bind_target(model, target, logits.detach()).score(logits)
            used = probabilities[: len(vit.blocks)][last_blocks(len(vit.blocks), opts["last_blocks"], self.name)]
            ran = [p for p in used if p is not None]
            if len(ran) < len(used):
                raise ValueError(f"{self.name}: a transformer block's attention did not run in the forward pass")
            grads = torch.autograd.grad(score.sum(), ran, allow_unused=True)
            grads = tuple(torch.zeros_like(p) if g is None else g for p, g in zip(ran, grads))
        relevance = relevance_update([p.detach() for p in ran], list(grads))
        # accumulated in float64; the map comes back in the model's own dtype
        return to_maps(token_map(relevance, vit, (x.shape[-2], x.shape[-1]), opts).to(x.dtype))
