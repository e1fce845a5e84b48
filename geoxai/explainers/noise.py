"""Standard normal noise for SmoothGrad, drawn per image from the image's own generator.

Every scheme returns ``n`` draws of shape ``shape`` whose every single draw is exactly N(0, I)
distributed, so the mean over the draws of any function of the noise is an unbiased estimate of
its expectation; the schemes differ in how the draws of one image depend on each other:

- ``gaussian``: independent draws (``torch.randn``; the paper's setting and geoxai's default).
- ``antithetic``: pairs (e, -e). SmoothGrad² averages squared attributions; the term of the square
  that is odd in the noise (the largest part of the sampling error for small noise) cancels
  within each pair. Needs an even ``n``.
- ``stratified``: Latin hypercube per coordinate: for every input value the ``n`` draws fall one in
  each of ``n`` equal-probability slices of the normal distribution (random order per value).
- ``sobol``: a Sobol sequence (``torch.quasirandom.SobolEngine``, unscrambled, its 21201
  dimensions reused block by block) randomised by a random digital shift per dimension plus a
  uniform jitter inside its 2^-30 grid cell, mapped through the inverse normal CDF. The shift makes
  every point uniform on the unit cube (unbiased) and keeps the sequence's balance: for ``n`` a
  power of two every coordinate's draws are stratified as in ``stratified``.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch.quasirandom import SobolEngine

SAMPLINGS = ("gaussian", "antithetic", "stratified", "sobol")
_SOBOL_BITS = SobolEngine.MAXBIT  # the engine's points are multiples of 2**-MAXBIT
_TINY = 2.0 ** -60  # keeps the inverse CDF finite at u == 0


def check_sampling(sampling: str, n_samples: int) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; use one of {', '.join(SAMPLINGS)}")
    if sampling == "antithetic" and n_samples % 2:
        raise ValueError(f"sampling 'antithetic' draws pairs (e, -e): n_samples must be even, got {n_samples}")


def standard_normal(sampling: str, n: int, shape: tuple[int, ...], generator: torch.Generator,
                    dtype: torch.dtype) -> torch.Tensor:
    """``n`` draws [n, *shape] of N(0, I) noise by ``sampling`` (see the module doc), on CPU."""
    check_sampling(sampling, n)
    if sampling == "gaussian":
        # exactly the call geoxai always made: the default noise stays bit-identical
        return torch.randn((n, *shape), generator=generator, dtype=dtype)
    if sampling == "antithetic":
        half = torch.randn((n // 2, *shape), generator=generator, dtype=dtype)
        return torch.stack([half, -half], dim=1).reshape(n, *shape)
    size = math.prod(shape)
    if sampling == "stratified":
        # a random permutation of the n slices for every coordinate, a uniform point in each slice
        order = torch.rand((n, size), generator=generator, dtype=torch.float64).argsort(dim=0)
        u = (order + torch.rand((n, size), generator=generator, dtype=torch.float64)) / n
    else:
        u = _shifted_sobol(n, size, generator)
    return torch.special.ndtri(u.clamp_min(_TINY)).to(dtype).view(n, *shape)


@lru_cache(maxsize=8)
def _sobol_integers(n: int) -> torch.Tensor:
    """The first ``n`` unscrambled Sobol points in all the engine's dimensions, as integers."""
    points = SobolEngine(SobolEngine.MAXDIM, scramble=False).draw(n, dtype=torch.float64)
    return (points * 2.0 ** _SOBOL_BITS).round().to(torch.int64)


def _shifted_sobol(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    base = _sobol_integers(n)
    blocks = []
    for start in range(0, size, SobolEngine.MAXDIM):
        width = min(SobolEngine.MAXDIM, size - start)
        shift = torch.randint(0, 2 ** _SOBOL_BITS, (1, width), generator=generator, dtype=torch.int64)
        blocks.append(torch.bitwise_xor(base[:, :width], shift))
    digits = torch.cat(blocks, dim=1).double()
    jitter = torch.rand(digits.shape, generator=generator, dtype=torch.float64)
    return (digits + jitter) * 2.0 ** -_SOBOL_BITS
