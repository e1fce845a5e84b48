"""What ig-smoothgrad reports about each map it makes: is the integral converged, how noisy is it.

- completeness: the sum of every noisy copy's IG attributions should equal f(copy) - f(baseline)
  (Sundararajan et al. 2017); the ratio of the two, summed over the copies, is 1 when the
  integration steps suffice. Off by more than ``COMPLETENESS_TOLERANCE``, the map is warned about.
- noise: the noisy copies are split into two halves; the relative L2 distance of the two halves'
  SmoothGrad² estimates, ||S_A - S_B|| / ||S_A + S_B||, estimates the relative error left in the
  full map from the noise sampling (for independent halves; for ``stratified`` and ``sobol`` noise
  it is an upper estimate, since a half is less balanced than the whole); ``halves_spearman`` is
  the rank agreement of the two halves' maps.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

#: an explicit n_steps split (e.g. preset="paper") is warned about when an image's attributions sum
#: to more than this far off its score gap: far off, not the 8-20 % the paper's 5 x 50 shows on a real
#: network. With ``budget`` (the default: 4 steps) the sums are known to be 20-80 % off, even of the
#: wrong sign, by design (docs/explainers.md): reported per image in the output, never warned about.
COMPLETENESS_TOLERANCE = 0.25


def half_size(n_samples: int, sampling: str) -> int:
    """Copies per half: antithetic pairs are kept together when there are at least two pairs."""
    if sampling == "antithetic" and n_samples >= 4:
        return 2 * (n_samples // 4)
    return n_samples // 2


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.flatten().double().argsort().argsort().double()
    rb = b.flatten().double().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def per_image_info(ig: torch.Tensor, squares: torch.Tensor, gaps: torch.Tensor | None, *, n_samples: int,
                   n_steps: int, sampling: str, copies: int | None = None) -> list[dict[str, Any]]:
    """One dict per image. ``ig`` [B*n, C, H, W] per-copy IG, ``squares`` [B, n, C, H, W] its squares,
    ``gaps`` [B*copies] f(copy) - f(baseline) of each image's first ``copies`` copies (all by default),
    or None: then completeness was not measured (``completeness_copies`` 0 says so)."""
    b = squares.shape[0]
    k = n_samples if copies is None else copies
    sums = ig.detach().double().flatten(1).sum(1).view(b, n_samples).cpu()
    h = half_size(n_samples, sampling)
    out = []
    for i in range(b):
        info: dict[str, Any] = {"n_samples": n_samples, "n_steps": n_steps, "sampling": sampling,
                                "passes": n_samples * n_steps, "completeness_copies": 0 if gaps is None else k}
        if gaps is not None:
            gap = gaps.detach().double().view(b, k)[i].cpu()
            ratios = sums[i, :k] / gap
            info["completeness"] = float(sums[i, :k].sum() / gap.sum())
            info["completeness_min"] = float(ratios.min())
            info["completeness_max"] = float(ratios.max())
            info["score_gap"] = float(gap.mean())
        if h >= 1:
            first = squares[i, :h].double().mean(0)
            second = squares[i, h:2 * h].double().mean(0)
            total = (first + second).norm()
            info["noise"] = float((first - second).norm() / total) if total > 0 else 0.0
            info["halves_spearman"] = rank_correlation(first.amax(0), second.amax(0))
        out.append(info)
    return out


def warn_incomplete(infos: Sequence[dict[str, Any]], ids: Sequence[str] | None, n_steps: int,
                    budget: int | None = None) -> bool:
    """Warn when an image's completeness ratio is off by more than the tolerance; never with
    ``budget``, whose few steps trade completeness by design; True if warned."""
    if budget is not None:
        return False
    tolerance = COMPLETENESS_TOLERANCE
    worst, worst_i = 0.0, None
    for i, info in enumerate(infos):
        ratio = info.get("completeness")
        if ratio is None or ratio != ratio:  # no gap measured, or 0/0
            continue
        if abs(ratio - 1) > max(worst, tolerance):
            worst, worst_i = abs(ratio - 1), i
    if worst_i is None:
        return False
    name = ids[worst_i] if ids is not None else f"#{worst_i}"
    advice = f"{n_steps} integration steps are too few for this model; raise n_steps"
    warnings.warn(
        f"ig-smoothgrad: the IG attributions of image {name} sum to {infos[worst_i]['completeness']:.3f} x "
        f"(f(input) - f(baseline)), off by more than {tolerance:.0%}: {advice} "
        "(this warning is shown once per explainer)", RuntimeWarning, stacklevel=4)
    return True


def native_bfloat16_cpu() -> bool:
    """Whether this CPU has bfloat16 arithmetic units (AVX512-BF16 or AMX)."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [c for c in checks if c is not None]
    if checks:
        return any(bool(c()) for c in checks)
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


_warned_bfloat16 = False


def warn_slow_bfloat16(device: torch.device, dtype: torch.dtype | None) -> None:
    """bfloat16 autocast on a CPU without bf16 units: warn once per process, saying why."""
    global _warned_bfloat16
    if _warned_bfloat16 or dtype is not torch.bfloat16 or device.type != "cpu" or native_bfloat16_cpu():
        return
    _warned_bfloat16 = True
    warnings.warn(
        f"ig-smoothgrad: dtype='bfloat16' on a CPU without bfloat16 units (no AVX512-BF16 or AMX; torch "
        f"reports {torch.backends.cpu.get_cpu_capability()}): every bfloat16 operation is emulated via float32, "
        "which is about 10x slower than float32 here, and the map moves (Spearman ~0.97 to float32). "
        "Use dtype='float32' on this machine.", RuntimeWarning, stacklevel=4)
