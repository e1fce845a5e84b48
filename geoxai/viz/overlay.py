"""Heat maps over the explained view.

Non-negative maps (IG-SmoothGrad², CAMs) use a sequential colormap scaled from 0 to a high
percentile (one hot pixel should not wash out the rest); signed maps (LRP) use a diverging
colormap centred on zero.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def _as_hwc(view) -> np.ndarray:
    arr = view.detach().cpu().numpy() if isinstance(view, torch.Tensor) else np.asarray(view)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3] or [3, H, W], got shape {arr.shape}")
    return np.ascontiguousarray(arr.astype(np.uint8))


def colorize(heat, percentile: float = 99.5, cmap: str | None = None) -> np.ndarray:
    """A map [H, W] -> RGB uint8 [H, W, 3]."""
    import matplotlib

    h = heat.detach().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat)
    h = np.nan_to_num(h.astype(np.float64))
    if h.ndim != 2:
        raise ValueError(f"expected a map [H, W], got shape {h.shape}")
    signed = h.min() < 0
    if signed:
        scale = np.percentile(np.abs(h), percentile) or 1.0
        unit = np.clip(0.5 + 0.5 * h / scale, 0, 1)
        name = cmap or "bwr"
    else:
        scale = np.percentile(h, percentile) or (h.max() or 1.0)
        unit = np.clip(h / scale, 0, 1)
        name = cmap or "inferno"
    rgba = matplotlib.colormaps[name](unit)
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def overlay(view, heat, alpha: float = 0.5, percentile: float = 99.5, cmap: str | None = None) -> np.ndarray:
    """Blend the coloured map over the view: RGB uint8 [H, W, 3]."""
    image = _as_hwc(view)
    colours = colorize(heat, percentile=percentile, cmap=cmap)
    if colours.shape[:2] != image.shape[:2]:
        raise ValueError(f"map size {colours.shape[:2]} differs from image size {image.shape[:2]}")
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return blended.round().clip(0, 255).astype(np.uint8)


def save_overlay(path: str | os.PathLike, view, heat, **kwargs) -> Path:
    """Write the overlay as a PNG atomically (temporary file + rename)."""
    from PIL import Image

    from ..io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(overlay(view, heat, **kwargs)).save(tmp, format="PNG")
    return path
