"""Judging a float32 (or lower precision) explanation map against a reference map.

float32 convolutions round differently on every CPU (oneDNN and ATen pick kernels by instruction
set), and a rounding change can flip a ReLU, so element-wise tolerances on float32 maps pass on
one machine and fail on the next. "The same function" is proved in float64 instead; a fast float32
path is judged here by what a user of the map sees: its ranking (Spearman), its most salient pixels
(top-k overlap) and its overall shape (relative L2).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def _ranks(values: torch.Tensor) -> torch.Tensor:
    order = values.argsort()
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = torch.arange(values.numel(), dtype=torch.float64)
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps (flattened); ties are broken by position."""
    ra, rb = _ranks(a.flatten().double()), _ranks(b.flatten().double())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-300))


def top_k_overlap(a: torch.Tensor, b: torch.Tensor, fraction: float = 0.05) -> float:
    """Share of the reference's ``fraction`` most salient pixels that are also among ``a``'s."""
    a, b = a.flatten(), b.flatten()
    k = max(1, int(round(fraction * b.numel())))
    top_a = set(a.double().topk(k).indices.tolist())
    top_b = set(b.double().topk(k).indices.tolist())
    return len(top_a & top_b) / k


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


@dataclass
class Fidelity:
    spearman: float
    top_k_overlap: float
    relative_l2: float


def fidelity(fast: torch.Tensor, reference: torch.Tensor, fraction: float = 0.05) -> Fidelity:
    """The three measures, worst over the maps of a batch [B, H, W] (or of one map [H, W])."""
    if fast.shape != reference.shape:
        raise AssertionError(f"map shapes differ: {tuple(fast.shape)} vs {tuple(reference.shape)}")
    pairs = list(zip(fast, reference)) if fast.ndim == 3 else [(fast, reference)]
    return Fidelity(spearman=min(spearman(a, b) for a, b in pairs),
                    top_k_overlap=min(top_k_overlap(a, b, fraction) for a, b in pairs),
                    relative_l2=max(relative_l2(a, b) for a, b in pairs))


def assert_faithful(fast: torch.Tensor, reference: torch.Tensor, *, min_spearman: float = 0.999,
                    min_top_k_overlap: float = 0.95, max_relative_l2: float = 1e-3,
                    fraction: float = 0.05) -> Fidelity:
    """Fail unless ``fast`` ranks, picks and shapes its pixels like ``reference`` (per map)."""
    got = fidelity(fast, reference, fraction)
    problems = []
    if not got.spearman >= min_spearman:
        problems.append(f"Spearman {got.spearman:.6f} < {min_spearman}")
    if not got.top_k_overlap >= min_top_k_overlap:
        problems.append(f"top-{fraction:.0%} overlap {got.top_k_overlap:.4f} < {min_top_k_overlap}")
    if not got.relative_l2 <= max_relative_l2:
        problems.append(f"relative L2 {got.relative_l2:.2e} > {max_relative_l2:.0e}")
    if problems:
        raise AssertionError("maps are not faithful to the reference: " + "; ".join(problems))
    return got
