"""Noise for SmoothGrad: :class:`NoiseTunnel`, which wraps any explainer (captum's ``NoiseTunnel``),
and the noisy copies it and ig-smoothgrad explain.

``NoiseTunnel(explainer, nt_type=..., n_samples=..., stdev=..., seed=...)`` explains ``n_samples``
noisy copies of every image with the wrapped explainer, each copy for the target bound to its
clean image, and aggregates the copies' maps: their mean (``smoothgrad``), the mean of their
squares (``smoothgrad_sq``) or their variance (``vargrad``), captum's three rules. Unlike captum
it aggregates the maps the explainer returns (after its channel reduction), and its ``stdev`` is
a fraction of each image's value range (max - min), as in the SmoothGrad paper and ig-smoothgrad.

Each image's noise comes from its own generator, seeded from ``seed`` and a hash of the image
(:func:`noise_keys`): an image gets the same noise in whatever batch it is, so resumed or sharded
runs reproduce their maps. ``sampling`` picks how one image's draws relate:

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

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import torch
from torch.quasirandom import SobolEngine

from ..interfaces import Explainer, GeoModel
from ..options import NonNegativeFloat, PositiveInt
from ..targets import BoundTarget, Target
from ..types import ImageBatch
from .base import BaseExplainer, model_input, to_maps, untouched

SAMPLINGS = ("gaussian", "antithetic", "stratified", "sobol")
NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
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


def noise_keys(images: ImageBatch | torch.Tensor) -> list[int]:
    """One key per image that, with the seed, fixes the image's noise: a hash of its content.

    Hashing the uint8 pixels (an ImageBatch or a uint8 tensor) gives the same key on every
    device; a float input is hashed as it is (so the key follows its exact bytes)."""
    data = images.pixels if isinstance(images, ImageBatch) else images
    data = data.detach().cpu().contiguous()
    return [int.from_bytes(hashlib.blake2b(item.numpy().tobytes(), digest_size=8).digest(), "little")
            for item in data]


def noisy_inputs(x: torch.Tensor, n_samples: int, stdev: float, seed: int | None,
                 keys: Sequence[int] | None = None, sampling: str = "gaussian") -> torch.Tensor:
    """``n_samples`` noisy copies per image [B * n, ...], image-major ([img0 x n, img1 x n, ...])
    like captum; sigma = ``stdev`` * (max - min) of each image; each image's draws from a generator
    seeded by ``seed`` (None: fresh noise) and its key (:func:`noise_keys`, by default of ``x``), so an
    image gets the same noise whatever batch it is in, in whatever position: a resumed or sharded
    dataset run reproduces its maps. ``sampling``: how one image's draws relate (``SAMPLINGS``)."""
    if stdev < 0:
        raise ValueError(f"stdev must be >= 0, got {stdev}")
    copies = x.repeat_interleave(n_samples, dim=0)
    if stdev == 0:
        return copies
    keys = noise_keys(x) if keys is None else list(keys)
    if len(keys) != x.shape[0]:
        raise ValueError(f"{len(keys)} noise keys for {x.shape[0]} images")
    flat = x.flatten(1)
    sigma = stdev * (flat.amax(1) - flat.amin(1))
    generator = torch.Generator(device="cpu")
    noise = []
    for key in keys:
        if seed is None:
            generator.seed()
        else:
            digest = hashlib.blake2b(f"{int(seed)}/{key}".encode(), digest_size=8).digest()
            generator.manual_seed(int.from_bytes(digest, "little") >> 1)
        # drawn in float32 whatever x's dtype, so a float64 run sees the float32 run's noise
        noise.append(standard_normal(sampling, n_samples, tuple(x.shape[1:]), generator, torch.float32).to(x.dtype))
    return copies + torch.cat(noise).to(x.device) * sigma.repeat_interleave(n_samples).view(-1, 1, 1, 1)


class _CopiesOf(Target):
    """The target bound to the clean images, for rows that are copies of them (``owners[n]``: the
    image of copy n): each copy is explained for its clean image's target (captum's explicit target)."""

    needs_logits = False

    def __init__(self, bound: BoundTarget, owners: torch.Tensor) -> None:
        self.bound, self.owners = bound, owners

    def bind(self, model, logits):
        cells = None if self.bound.cells is None else self.bound.cells[self.owners.to(self.bound.cells.device)]
        return BoundTarget(self, lambda scores, rows: self.score(model, scores, rows), cells)

    def score(self, model, scores, rows=None):
        return self.bound.score(scores, self.owners if rows is None else self.owners[rows])

    def __str__(self) -> str:
        return str(self.bound.target)


class NoiseTunnel(BaseExplainer):
    """Any explainer averaged over noisy copies of each image (see the module doc). Options of
    ``explain`` that are not the tunnel's own go to the wrapped explainer."""

    name = "noise-tunnel"

    @dataclass(frozen=True)
    class Options:
        nt_type: Literal["smoothgrad", "smoothgrad_sq", "vargrad"] = "smoothgrad"
        n_samples: PositiveInt = 8      # noisy copies per image
        stdev: NonNegativeFloat = 0.15  # noise sigma as a fraction of each image's value range
        seed: int | None = 0            # None: fresh noise on every call
        sampling: Literal["gaussian", "antithetic", "stratified", "sobol"] = "gaussian"
        batch_size: PositiveInt = 32    # noisy copies per call of the wrapped explainer

    def __init__(self, explainer: Explainer, **options: Any) -> None:
        super().__init__(**options)
        self.explainer = explainer

    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        opts = self.resolve(**{k: v for k, v in options.items() if k in self.defaults})
        passed_on = {k: v for k, v in options.items() if k not in self.defaults}
        n = opts.n_samples
        check_sampling(opts.sampling, n)
        x = model_input(model, images)
        with untouched(model):
            bound = self.bind_target(model, target, inputs=x)
        copies = noisy_inputs(x, n, opts.stdev, opts.seed, keys=noise_keys(images), sampling=opts.sampling)
        owners = torch.arange(x.shape[0], device=x.device).repeat_interleave(n)
        maps = torch.cat([self.explainer.explain(model, copies[start:start + opts.batch_size],
                                                 _CopiesOf(bound, owners[start:start + opts.batch_size]), **passed_on)
                          for start in range(0, copies.shape[0], opts.batch_size)])
        per_image = maps.double().view(x.shape[0], n, *maps.shape[1:])
        mean = per_image.mean(dim=1)
        if opts.nt_type == "smoothgrad":
            smoothed = mean
        else:
            mean_square = per_image.pow(2).mean(dim=1)
            # captum's variance: E[m^2] - E[m]^2
            smoothed = mean_square if opts.nt_type == "smoothgrad_sq" else mean_square - mean.pow(2)
        return to_maps(smoothed.to(maps.dtype))
