"""Attention rollout (Abnar & Zuidema, ACL 2020, "Quantifying Attention Flow in Transformers").

Per block, the heads' attention probabilities are fused (``head_fusion``: mean as in the paper;
max/min as in common ViT re-implementations), the identity is added for the residual connection and
the rows are renormalised: Ã = (A + I) / rowsum. Rollout multiplies these through the blocks,
R = Ã_L ··· Ã_1, and the class token's row of R says how much of each patch flows into the token
the prediction is read from (see ``_attention.token_map`` for models without a class token).

Rollout sees attention only, not the score: the map is the same for every target (``target`` is
accepted for the common interface and ignored). ``last_blocks=k`` rolls out the last k blocks only.
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

FUSIONS = {"mean": lambda a: a.mean(1), "max": lambda a: a.amax(1), "min": lambda a: a.amin(1)}


def rollout(probabilities: list[torch.Tensor], head_fusion: str = "mean") -> torch.Tensor:
    """[B, heads, N, N] per block, in forward order -> the rolled-out [B, N, N]."""
    result = None
    for probs in probabilities:
        fused = FUSIONS[head_fusion](probs.double())
        fused = fused + torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
        fused = fused / fused.sum(-1, keepdim=True)
        result = fused if result is None else fused @ result
    if result is None:
        raise ValueError("attention rollout needs the attention of at least one block")
    return result


class AttentionRollout(BaseExplainer):
    name = "attention-rollout"

    @dataclass(frozen=True)
    class Options:
        last_blocks: PositiveInt | None = None  # roll out the last k blocks only (None: every block, as the paper)
        head_fusion: str = "mean"       # mean (the paper), max or min over the heads
        normalize: bool = False         # min-max scale each map to [0, 1]
        align_corners: bool = False     # bilinear upsampling corners of the token grid

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        opts = self.resolved_options(**options)
        if opts["head_fusion"] not in FUSIONS:
            raise ValueError(f"attention-rollout: head_fusion must be one of {', '.join(FUSIONS)}, "
                             f"got {opts['head_fusion']!r}")
        vit = model_vit(model, self.name)
        x = model_input(model, images)
        with untouched(model), torch.no_grad(), eager_attention(model) as probabilities:
            model(x)
        used = probabilities[last_blocks(len(vit.blocks), opts["last_blocks"], self.name)][: len(vit.blocks)]
        ran = [p for p in used if p is not None]
        if len(ran) < len(used):
            raise ValueError(f"{self.name}: a transformer block's attention did not run in the forward pass")
        relevance = rollout(ran, opts["head_fusion"])
        # accumulated in float64; the map comes back in the model's own dtype
        return to_maps(token_map(relevance, vit, (x.shape[-2], x.shape[-1]), opts).to(x.dtype))
