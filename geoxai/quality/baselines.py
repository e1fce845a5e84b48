"""Maps that know nothing about the model: the chance level and a prior, scored like any explainer.

* ``smooth_random_maps``: uniform noise on a coarse grid (``cells`` x ``cells``), bilinearly
  upsampled. Its deletion and insertion curves are the chance level. Per-pixel random maps are
  not: deleting scattered pixels wrecks the input far faster than deleting any compact region,
  so against them nearly every map looks faithful.
* ``centre_bias_maps``: an isotropic Gaussian at the image centre (photographers centre the
  subject); a map that does not beat it adds nothing a prior would not.
"""
from __future__ import annotations

import torch


def smooth_random_maps(count: int, size: tuple[int, int], cells: int = 7, seed: int = 0) -> torch.Tensor:
    """``count`` smooth random maps [count, H, W] (float32), reproducible from ``seed``."""
    if cells < 1:
        raise ValueError(f"smooth_random_maps: cells must be >= 1, got {cells}")
    g = torch.Generator().manual_seed(int(seed))
    coarse = torch.rand((count, 1, cells, cells), generator=g, dtype=torch.float64)
    maps = torch.nn.functional.interpolate(coarse, size=tuple(size), mode="bilinear", align_corners=False)
    return maps[:, 0].float()


def centre_bias_maps(count: int, size: tuple[int, int], sigma: float = 0.25) -> torch.Tensor:
    """``count`` copies of a centred Gaussian [count, H, W]; ``sigma`` as a fraction of each side."""
    h, w = size
    y = (torch.arange(h, dtype=torch.float64) + 0.5 - h / 2) / (sigma * h)
    x = (torch.arange(w, dtype=torch.float64) + 0.5 - w / 2) / (sigma * w)
    bump = torch.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    return bump.float().expand(count, h, w).clone()


BASELINES = {"smooth-random": smooth_random_maps, "centre-bias": centre_bias_maps}


def baseline_maps(name: str, count: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    if name == "smooth-random":
        return smooth_random_maps(count, size, seed=seed)
    if name == "centre-bias":
        return centre_bias_maps(count, size)
    raise ValueError(f"unknown baseline {name!r}; use {', '.join(BASELINES)}")
