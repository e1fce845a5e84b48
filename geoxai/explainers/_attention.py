"""What the attention explainers share: picking a ViT's last blocks and reading one token row of a
[B, N, N] token-to-token relevance matrix as a map at the input size."""
from __future__ import annotations

from typing import Any

import torch

from ..interfaces import GeoModel
from ..vit import ViT, find_vit
from .cam import minmax, upsample


def model_vit(model: GeoModel, explainer: str) -> ViT:
    vit = find_vit(model)
    if vit is None:
        raise ValueError(f"{explainer}: model {model.name!r} contains no vision transformer geoxai recognises "
                         "(timm VisionTransformer, Hugging Face CLIP/SigLIP vision towers, "
                         "torchvision VisionTransformer)")
    return vit


def last_blocks(count: int, last: Any, explainer: str) -> slice:
    """``last_blocks=None``: every block; ``k``: the last k (early blocks add background artefacts)."""
    if last is None:
        return slice(0, count)
    k = int(last)
    if not 1 <= k <= count:
        raise ValueError(f"{explainer}: last_blocks must be 1..{count} (the model has {count} blocks), got {last!r}")
    return slice(count - k, count)


def token_map(relevance: torch.Tensor, vit: ViT, input_hw: tuple[int, int], opts: dict[str, Any]) -> torch.Tensor:
    """[B, N, N] -> [B, H, W]. The class token's row over the patch columns; a model without a class
    token (SigLIP, timm ``class_token=False``) has no single row that is "the prediction", so the
    rows of all patch tokens are averaged: how much each patch feeds the pooled tokens on average."""
    p = vit.num_prefix_tokens
    if vit.has_class_token:
        row = relevance[:, 0, p:]
    else:
        row = relevance[:, p:, p:].mean(1)
    h, w = vit.grid(*input_hw)
    grid = row.reshape(row.shape[0], h, w)
    maps = upsample(grid, input_hw, bool(opts["align_corners"]))
    return minmax(maps) if opts["normalize"] else maps
