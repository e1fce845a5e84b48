"""How alike two explanation maps are: the fidelity measures shared by tests, benchmarks and the
sanity and stability checks.

Every function takes two batches of maps [B, H, W] (or single maps [H, W]) and returns one float64
value per map pair [B]. Computed in float64 so that a measure of float32 maps is not itself a
source of rounding noise.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["spearman", "topk_overlap", "relative_l2", "ssim", "rank_data"]


def _pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).detach().cpu().double()
    b = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b).detach().cpu().double()
    if a.ndim == 2:
        a = a[None]
    if b.ndim == 2:
        b = b[None]
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"maps to compare must both be [B, H, W] of the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def rank_data(values: torch.Tensor) -> torch.Tensor:
    """Average ranks (1-based, ties share their mean rank, as scipy.stats.rankdata) along the last dim."""
    values = values.double()
    n = values.shape[-1]
    order = torch.argsort(values, dim=-1, stable=True)
    sorted_values = torch.gather(values, -1, order)
    # group ties: a new group starts wherever the sorted value changes
    starts = torch.ones_like(sorted_values, dtype=torch.bool)
    starts[..., 1:] = sorted_values[..., 1:] != sorted_values[..., :-1]
    group = torch.cumsum(starts.long(), dim=-1) - 1
    positions = torch.arange(1, n + 1, dtype=torch.float64).expand_as(sorted_values)
    sums = torch.zeros_like(sorted_values).scatter_add_(-1, group, positions)
    counts = torch.zeros_like(sorted_values).scatter_add_(-1, group, torch.ones_like(positions))
    mean_rank = torch.gather(sums / counts.clamp_min(1), -1, group)
    return torch.empty_like(mean_rank).scatter_(-1, order, mean_rank)


def spearman(a, b) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps (ties get average ranks); NaN for a constant map."""
    a, b = _pair(a, b)
    ra, rb = rank_data(a.flatten(1)), rank_data(b.flatten(1))
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    denominator = (ra.square().sum(1) * rb.square().sum(1)).sqrt()
    return (ra * rb).sum(1) / denominator


def topk_overlap(a, b, k: int = 1000) -> torch.Tensor:
    """Fraction of the k highest pixels of ``a`` that are also among the k highest of ``b``
    (ties broken in row-major order, as in concept influence)."""
    from ..ci import topk_mask

    a, b = _pair(a, b)
    k_eff = min(int(k), a.shape[1] * a.shape[2])
    if k_eff < 1:
        raise ValueError(f"topk_overlap: k must be >= 1, got {k}")
    both = topk_mask(a, k_eff) & topk_mask(b, k_eff)
    return both.flatten(1).sum(1).double() / k_eff


def relative_l2(a, b) -> torch.Tensor:
    """||a - b|| / ||b|| per pair (``b`` is the reference)."""
    a, b = _pair(a, b)
    return (a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)


def _gaussian_window(sigma: float, truncate: float = 3.5) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(a, b, sigma: float = 1.5, normalize: bool = True) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) of each pair, Gaussian-weighted (sigma 1.5).

    With ``normalize`` each map is min-max scaled to [0, 1] first (data range 1), as the sanity
    check literature compares maps of very different scales. Matches
    ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)`` on the normalised maps (valid region only)."""
    a, b = _pair(a, b)
    if normalize:
        a, b = _minmax(a), _minmax(b)
    data_range = 1.0 if normalize else float(torch.maximum(a.max() - a.min(), b.max() - b.min()))
    window = _gaussian_window(sigma)
    pad = (len(window) - 1) // 2

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable 'valid' Gaussian filter
        x = x[:, None]
        x = torch.nn.functional.conv2d(x, window.view(1, 1, -1, 1))
        return torch.nn.functional.conv2d(x, window.view(1, 1, 1, -1))[:, 0]

    if min(a.shape[1], a.shape[2]) <= 2 * pad:
        raise ValueError(f"ssim: maps of {a.shape[1]}x{a.shape[2]} are smaller than the {2 * pad + 1}-pixel window")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    # skimage crops (window - 1) / 2 pixels from each border before averaging; 'valid' already did
    return s.flatten(1).mean(1)


def _minmax(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1)
    span = (flat.max(1).values.view(-1, 1, 1) - lo)
    return torch.where(span > 0, (x - lo) / span.clamp_min(1e-300), torch.zeros_like(x))
