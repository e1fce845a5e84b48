"""Vision transformers inside a GeoModel: where their blocks are, how their tokens form a grid, and
their attention probabilities.

Three families are recognised wherever they sit in a model (``model.net``, ``model.image_encoder.clip``...):
timm ``VisionTransformer`` (class token, register tokens, ``dynamic_img_size``), Hugging Face
``CLIPVisionTransformer`` / ``SiglipVisionTransformer`` (SigLIP has no class token) and torchvision
``VisionTransformer``. Nothing is changed permanently: taps are forward hooks, the switch to eager
attention lasts one ``with`` block.

Token-grid tap: CAM explainers need ``[B, C, h, w]`` maps; a block's tokens are ``[B, N, C]`` with
``num_prefix_tokens`` (class and register tokens) before ``h * w`` patch tokens in row-major order,
``(h, w) = (H // patch, W // patch)`` for an ``H x W`` input. A block is tapped at its *normalised
input* (the output of its first LayerNorm, what pytorch-grad-cam's ViT tutorial hooks): a class-token
model reads only the class token of the last block's output, so that output's patch tokens have zero
gradient, while the patch tokens entering the last block reach the class token through its attention.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ViT", "find_vits", "find_vit", "CamTap", "cam_tap", "tokens_to_grid", "eager_attention",
           "TokenGrid", "L2Normalize"]


@dataclass
class ViT:
    """One vision transformer found in a model (all paths are dotted paths from the model's root)."""

    family: str                     # "timm", "hf" or "torchvision"
    path: str                       # the ViT module itself
    blocks: list[str]               # transformer blocks in forward order
    norms: list[str]                # each block's first LayerNorm: the token-grid tap
    attentions: list[str]           # each block's self-attention module
    num_prefix_tokens: int          # class + register tokens before the patch tokens
    has_class_token: bool
    patch_size: tuple[int, int]
    dynamic_pad: bool = False       # timm dynamic_img_pad: a partial patch at the border counts
    module: nn.Module | None = field(default=None, repr=False)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        ph, pw = self.patch_size
        if self.dynamic_pad:
            return -(-height // ph), -(-width // pw)
        return height // ph, width // pw


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _describe(path: str, module: Any) -> ViT | None:  # duck-typed: timm, HF and torchvision ViTs
    kind = type(module).__name__
    prefix = f"{path}." if path else ""
    if kind == "VisionTransformer" and hasattr(module, "blocks") and hasattr(module, "patch_embed"):  # timm
        n = len(module.blocks)
        return ViT("timm", path, [f"{prefix}blocks.{i}" for i in range(n)],
                   [f"{prefix}blocks.{i}.norm1" for i in range(n)], [f"{prefix}blocks.{i}.attn" for i in range(n)],
                   int(module.num_prefix_tokens), bool(module.has_class_token), _pair(module.patch_embed.patch_size),
                   bool(getattr(module.patch_embed, "dynamic_img_pad", False)), module)
    embeddings: Any = getattr(module, "embeddings", None)
    encoder: Any = getattr(module, "encoder", None)
    if (hasattr(embeddings, "patch_embedding") and hasattr(embeddings, "patch_size")
            and hasattr(encoder, "layers") and len(encoder.layers) and hasattr(encoder.layers[0], "layer_norm1")):
        # Hugging Face CLIP / SigLIP vision towers (CLIPVisionModel, ...VisionTransformer, ...)
        n = len(encoder.layers)
        layers = f"{prefix}encoder.layers"
        has_cls = hasattr(embeddings, "class_embedding")  # SigLIP has none
        return ViT("hf", path, [f"{layers}.{i}" for i in range(n)], [f"{layers}.{i}.layer_norm1" for i in range(n)],
                   [f"{layers}.{i}.self_attn" for i in range(n)], int(has_cls), has_cls,
                   _pair(embeddings.patch_size), False, module)
    if kind == "VisionTransformer" and hasattr(module, "conv_proj") and hasattr(module, "encoder"):  # torchvision
        names = [name for name, _ in module.encoder.layers.named_children()]
        layers = f"{prefix}encoder.layers"
        return ViT("torchvision", path, [f"{layers}.{k}" for k in names], [f"{layers}.{k}.ln_1" for k in names],
                   [f"{layers}.{k}.self_attention" for k in names], 1, True, _pair(module.patch_size), False, module)
    return None


def find_vits(model: nn.Module) -> list[ViT]:
    """Every recognised vision transformer in ``model``, outermost first, none nested in another."""
    found: list[ViT] = []
    for name, module in model.named_modules():
        if any(name == v.path or name.startswith(v.path + ".") for v in found if v.path):
            continue
        if found and found[0].path == "":
            break
        vit = _describe(name, module)
        if vit is not None:
            found.append(vit)
    return found


def find_vit(model: nn.Module) -> ViT | None:
    """The model's vision transformer (the first one if it has several), or None."""
    vits = find_vits(model)
    return vits[0] if vits else None


def tokens_to_grid(tokens: torch.Tensor, vit: ViT, input_hw: tuple[int, int]) -> torch.Tensor:
    """Patch tokens [B, N, C] -> [B, C, h, w]; class and register tokens are dropped."""
    h, w = vit.grid(*input_hw)
    if tokens.ndim != 3 or tokens.shape[1] != vit.num_prefix_tokens + h * w:
        raise ValueError(f"expected [B, {vit.num_prefix_tokens} + {h}*{w}, C] tokens of the {vit.family} ViT at "
                         f"{vit.path or 'the model root'} for a {input_hw[0]}x{input_hw[1]} input, got "
                         f"{tuple(tokens.shape)}")
    patches = tokens[:, vit.num_prefix_tokens:]
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)


@dataclass
class CamTap:
    """Where a CAM explainer hooks, and how the hooked output becomes a [B, C, h, w] map."""

    module: nn.Module
    to_map: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]


def _identity_map(t: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
    return t


def cam_tap(model: nn.Module, layer: str | int | None) -> CamTap:
    """Resolve a CAM layer of a GeoModel: a ``cam_layers`` name or dotted path (CNN layers as they
    are), a ViT block (tapped at its normalised input), any token module of a ViT, or an int
    (also ``"-1"``): the ViT block with that index."""
    vit = find_vit(model)
    if vit is not None and (isinstance(layer, int) or (isinstance(layer, str) and layer.lstrip("-").isdigit())):
        index = int(layer)
        if not -len(vit.blocks) <= index < len(vit.blocks):
            raise ValueError(f"ViT block {index} is out of range: the model has {len(vit.blocks)} blocks")
        layer = vit.blocks[index]
    if layer is None and vit is not None and getattr(model, "default_cam_layer", None) is None:
        layer = vit.blocks[-1]
    layer_of = getattr(model, "layer", None)  # a GeoModel resolves cam_layers names
    module = layer_of(layer) if layer_of is not None else model.get_submodule(str(layer))
    if vit is None:
        return CamTap(module, _identity_map)
    by_module = {id(model.get_submodule(b)): n for b, n in zip(vit.blocks, vit.norms)}
    if id(module) in by_module:  # a block: its normalised input (see the module docstring)
        module = model.get_submodule(by_module[id(module)])
    vit_module = model.get_submodule(vit.path) if vit.path else model
    if not any(m is module for m in vit_module.modules()):
        return CamTap(module, _identity_map)

    def to_map(t: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        return t if t.ndim == 4 else tokens_to_grid(t, vit, input_hw)

    return CamTap(module, to_map)


class TokenGrid(nn.Module):
    """A permanent spatial view of token layers, for models that want a ``[B, C, h, w]`` module to
    name in ``cam_layers``: wraps a module that returns tokens; ``self.spatial`` (an identity)
    receives the patch tokens as a grid. Prefer ``cam_tap`` (no change to the model)."""

    def __init__(self, inner: nn.Module, grid: tuple[int, int]) -> None:
        super().__init__()
        self.inner = inner
        self.grid = grid
        self.spatial = nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y = self.inner(tokens)
        b, n, c = y.shape
        h, w = self.grid
        prefix, patches = y[:, : n - h * w], y[:, n - h * w:]
        grid = self.spatial(patches.transpose(1, 2).reshape(b, c, h, w))
        return torch.cat([prefix, grid.flatten(2).transpose(1, 2)], dim=1)


# ---- attention probabilities -----------------------------------------------------------------
def _mha_eager(mha: nn.MultiheadAttention, record: Callable, detach: bool) -> Callable:
    """An eager forward for one ``nn.MultiheadAttention`` (installed on the instance for a call):
    softmax probabilities [B, heads, Nq, Nk] are formed explicitly, recorded, and used."""

    def forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if (key_padding_mask is not None or attn_mask is not None or mha.bias_k is not None
                or not mha._qkv_same_embed_dim):
            raise ValueError("geoxai's eager attention supports unmasked nn.MultiheadAttention only")
        if not mha.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        heads, dim = mha.num_heads, mha.embed_dim
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        b_q, b_k, b_v = mha.in_proj_bias.chunk(3) if mha.in_proj_bias is not None else (None, None, None)

        def split(t, w, b):
            return F.linear(t, w, b).view(t.shape[0], t.shape[1], heads, dim // heads).transpose(1, 2)

        q, k, v = split(query, w_q, b_q), split(key, w_k, b_k), split(value, w_v, b_v)
        probs = torch.softmax(q @ k.transpose(-2, -1) * (dim // heads) ** -0.5, dim=-1)
        probs = record(probs)
        used = probs.detach() if detach else probs
        out = mha.out_proj((used @ v).transpose(1, 2).reshape(query.shape[0], query.shape[1], dim))
        if not mha.batch_first:
            out = out.transpose(0, 1)
        weights = (probs.mean(1) if average_attn_weights else probs) if need_weights else None
        return out, weights

    return forward


def _hf_constant_softmax(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Hugging Face eager attention with the probabilities detached before they weight the values
    (conservative LRP); registered under its own name, used only while a model opts in."""
    weights = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(weights.detach(), value).transpose(1, 2).contiguous()
    return out, weights


HF_CONSTANT_SOFTMAX = "geoxai_constant_softmax"


def _register_hf_constant_softmax() -> None:
    from transformers import AttentionInterface

    if HF_CONSTANT_SOFTMAX not in AttentionInterface._global_mapping:
        AttentionInterface.register(HF_CONSTANT_SOFTMAX, _hf_constant_softmax)


@contextlib.contextmanager
def eager_attention(model: nn.Module, detach: bool = False,
                    every_mha: bool = False) -> Iterator[list[torch.Tensor | None]]:
    """Run the model's ViT attention eagerly for one ``with`` block and record each block's softmax
    probabilities [B, heads, N, N] (in block order; the tensors that weight the values, so their
    gradient is d(score)/dA). ``detach=True`` uses them as constants in backward (conservative LRP);
    ``every_mha`` also covers ``nn.MultiheadAttention`` modules outside the blocks (pooling heads).

    Fused SDPA is switched off only for this call: timm's per-module ``fused_attn`` flag, Hugging
    Face's ``config._attn_implementation`` ("eager", or a geoxai-named variant when detaching),
    an instance-level eager forward for torchvision's ``nn.MultiheadAttention``. All restored on exit."""
    vits = find_vits(model)
    records: list[torch.Tensor | None] = []
    undo: list[Callable[[], None]] = []

    def recorder(slot: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def record(probs: torch.Tensor) -> torch.Tensor:
            records[slot] = probs
            return probs
        return record

    try:
        seen_mha: set[int] = set()
        for vit in vits:
            for path in vit.attentions:
                slot = len(records)
                records.append(None)
                attn: Any = model.get_submodule(path)  # duck-typed: timm / HF / torch attention
                if vit.family == "timm":
                    if not hasattr(attn, "fused_attn") or not hasattr(attn, "attn_drop"):
                        raise ValueError(f"{path}: timm attention {type(attn).__name__} has no eager path geoxai knows")
                    old = attn.fused_attn
                    attn.fused_attn = False
                    undo.append(functools.partial(setattr, attn, "fused_attn", old))
                    record = recorder(slot)

                    def hook(_m, _i, out, record=record):
                        record(out)
                        return out.detach() if detach else out
                    undo.append(attn.attn_drop.register_forward_hook(hook).remove)
                elif vit.family == "hf":
                    config = attn.config
                    old = config._attn_implementation
                    if detach:
                        _register_hf_constant_softmax()
                    config._attn_implementation = HF_CONSTANT_SOFTMAX if detach else "eager"
                    undo.append(functools.partial(setattr, config, "_attn_implementation", old))
                    record = recorder(slot)

                    def hf_hook(_m, _i, out, record=record):
                        record(out[1])
                    undo.append(attn.register_forward_hook(hf_hook).remove)
                else:
                    seen_mha.add(id(attn))
                    _install_forward(attn, _mha_eager(attn, recorder(slot), detach), undo)
        if every_mha:
            for module in model.modules():
                if isinstance(module, nn.MultiheadAttention) and id(module) not in seen_mha:
                    _install_forward(module, _mha_eager(module, lambda p: p, detach), undo)
        yield records
    finally:
        for step in reversed(undo):
            step()


def _install_forward(module: nn.Module, forward: Callable, undo: list[Callable[[], None]]) -> None:
    had = "forward" in module.__dict__
    old = module.__dict__.get("forward")
    module.forward = forward

    def restore() -> None:
        if had:
            module.__dict__["forward"] = old
        else:
            del module.forward
    undo.append(restore)


class L2Normalize(nn.Module):
    """``F.normalize(x, dim=dim)`` as a module, for CLIP-style cosine heads: as a module its norm can
    be treated as a constant by conservative LRP (``geoxai.explainers.lrp_transformer``), as
    LayerNorm's standard deviation is; without that, gradient x input of a cosine is zero."""

    def __init__(self, dim: int = -1, eps: float = 1e-12) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=self.dim, eps=self.eps)
