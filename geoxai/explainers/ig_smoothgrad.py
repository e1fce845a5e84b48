"""Integrated Gradients with SmoothGrad² (the explanation map of the SemP paper, Sec. 4.2.1).

For each image, ``n_samples`` noisy copies are drawn (Gaussian noise, sigma = ``stdev`` x the
image's value range max - min, as in the SmoothGrad paper), Integrated Gradients from
``baseline`` is computed for each copy, every attribution value is squared and the squares are
averaged (captum ``NoiseTunnel(..., nt_type="smoothgrad_sq")``); the map is the maximum over the
colour channels.

The engine is our own: all (noisy copy x integration step) inputs of a whole batch of images are
cut into chunks of ``batch_size`` and pushed through the model, with gradients taken w.r.t. the
input only. In float32 it computes exactly what captum computes (same quadrature nodes and
weights, same arithmetic), see ``tests/explainers/test_ig_smoothgrad.py``. Faster numerics are
opt-in: ``channels_last`` inputs, ``fold_batchnorm`` (eval BatchNorm folded into the preceding
convolution while explaining: the same function, other rounding) and ``dtype`` autocast.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ..interfaces import GeoModel
from ..types import ImageBatch
from ._batchnorm import batchnorm_folded
from .base import BaseExplainer, model_input, to_maps, untouched

#: (scores [N, C], rows [N] = which image of the batch each row belongs to) -> [N] scalars
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def integration_rule(method: str, n_steps: int) -> tuple[list[float], list[float]]:
    """Quadrature nodes (alphas in [0, 1]) and weights of captum's rules, same values."""
    if method not in METHODS:
        raise ValueError(f"unknown integration method {method!r}; use one of {', '.join(METHODS)}")
    n = int(n_steps)
    if n < 1 or (n < 2 and method != "gausslegendre"):
        raise ValueError(f"n_steps must be >= {1 if method == 'gausslegendre' else 2} for {method}, got {n_steps}")
    if method == "gausslegendre":
        nodes, gauss_weights = np.polynomial.legendre.leggauss(n)
        return (0.5 * (1 + nodes)).tolist(), (0.5 * gauss_weights).tolist()
    weights = [1 / n] * n
    if method == "riemann_trapezoid":
        # captum halves the end weights of 1/n (not 1/(n-1)); kept for identical results
        weights[0] /= 2
        weights[-1] /= 2
        return torch.linspace(0, 1, n).tolist(), weights
    if method == "riemann_left":
        return torch.linspace(0, 1 - 1 / n, n).tolist(), weights
    if method == "riemann_middle":
        return torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n).tolist(), weights
    return torch.linspace(1 / n, 1, n).tolist(), weights


class IGSmoothGrad(BaseExplainer):
    """Integrated Gradients + SmoothGrad² (squared, averaged over noisy copies), max over channels."""

    name = "ig-smoothgrad"

    @dataclass(frozen=True)
    class Options:
        n_samples: int = 5             # noisy copies per image
        stdev: float = 0.15            # noise sigma as a fraction of each image's value range
        n_steps: int = 50              # integration steps
        method: Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                        "riemann_middle"] = "gausslegendre"
        #: "black", "zeros", a number (input space) or a tensor (uint8 pixels or input space)
        baseline: str | float | torch.Tensor = "black"
        seed: int | None = 0           # None: fresh noise on every call
        batch_size: int = 32           # (copy x step) inputs per forward/backward pass
        internal_batch_size: int | None = None  # captum's name for batch_size; wins when given
        channels_last: bool = False
        fold_batchnorm: bool = False
        dtype: Literal["float32", "bfloat16", "float16"] = "float32"

    # ---- public entry points -------------------------------------------------------------
    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        opts = self.resolved_options(**options)
        n = int(opts["n_samples"])
        if n < 1:
            raise ValueError(f"n_samples must be >= 1, got {n}")
        x = model_input(model, images)
        with untouched(model):
            score = self.bind_target(model, target, inputs=x).score
            baseline = self.baseline(model, x, opts["baseline"])
            noisy = self.noisy_inputs(x, n, float(opts["stdev"]), opts["seed"], keys=self.noise_keys(images))
            rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(n)
            with batchnorm_folded(model, x[:1], _flag(opts, "fold_batchnorm")):
                ig = self._integrate(model, score, noisy, baseline.expand_as(x)[rows], rows, opts)
        b, c, h, w = x.shape
        smoothed = ig.pow(2).view(b, n, c, h, w).sum(1) / n
        return to_maps(smoothed.amax(dim=1))

    def attribute_raw(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None,
                      **options: Any) -> torch.Tensor:
        """Plain Integrated Gradients [B, 3, H, W] of the clean images (no noise, no squaring,
        no channel max): the per-channel attributions whose sum approximates f(x) - f(baseline)."""
        opts = self.resolved_options(**options)
        x = model_input(model, images)
        with untouched(model):
            score = self.bind_target(model, target, inputs=x).score
            baseline = self.baseline(model, x, opts["baseline"]).expand_as(x)
            rows = torch.arange(x.shape[0], device=x.device)
            with batchnorm_folded(model, x[:1], _flag(opts, "fold_batchnorm")):
                ig = self._integrate(model, score, x, baseline, rows, opts)
        return ig.detach().float().cpu()

    # ---- pieces --------------------------------------------------------------------------
    @staticmethod
    def baseline(model: GeoModel, x: torch.Tensor, spec: Any) -> torch.Tensor:
        """The IG starting point in model-input space, broadcastable to ``x``."""
        if isinstance(spec, torch.Tensor):
            base = spec[None] if spec.ndim == 3 else spec
            # uint8 pixels are normalised like images; a float tensor is already in input space
            base = model.as_input(base).to(x.dtype) if base.dtype == torch.uint8 else base.to(x.device, x.dtype)
            try:
                torch.broadcast_shapes(base.shape, x.shape)
            except RuntimeError:
                raise ValueError(
                    f"baseline of shape {tuple(spec.shape)} does not fit inputs {tuple(x.shape)}") from None
            return base
        if isinstance(spec, str) and spec == "black":
            # inputs are normalised, so "black" is the normalised all-zero image, not 0.0
            black = torch.zeros((1,) + tuple(x.shape[1:]), dtype=torch.uint8, device=x.device)
            return model.normalize(black).to(x.dtype)
        if isinstance(spec, str) and spec == "zeros":
            return torch.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return torch.full((1,) + tuple(x.shape[1:]), float(spec), dtype=x.dtype, device=x.device)
        raise ValueError(f"invalid baseline {spec!r}: use 'black', 'zeros', a number or a tensor")

    @staticmethod
    def noise_keys(images: ImageBatch | torch.Tensor) -> list[int]:
        """One key per image that, with the seed, fixes the image's noise: a hash of its content.

        Hashing the uint8 pixels (an ImageBatch or a uint8 tensor) gives the same key on every
        device; a float input is hashed as it is (so the key follows its exact bytes)."""
        data = images.pixels if isinstance(images, ImageBatch) else images
        data = data.detach().cpu().contiguous()
        return [int.from_bytes(hashlib.blake2b(item.numpy().tobytes(), digest_size=8).digest(), "little")
                for item in data]

    @staticmethod
    def noisy_inputs(x: torch.Tensor, n_samples: int, stdev: float, seed: int | None,
                     keys: Sequence[int] | None = None) -> torch.Tensor:
        """``n_samples`` noisy copies per image, image-major ([img0 x n, img1 x n, ...]) like
        captum; sigma = stdev * (max - min) of each image.

        Each image's noise comes from its own generator, seeded from ``seed`` and the image's key
        (``noise_keys``; by default of ``x``), so an image gets the same noise whatever batch it is
        in, in whatever position: a resumed or sharded dataset run reproduces its maps."""
        if stdev < 0:
            raise ValueError(f"stdev must be >= 0, got {stdev}")
        copies = x.repeat_interleave(n_samples, dim=0)
        if stdev == 0:
            return copies
        keys = IGSmoothGrad.noise_keys(x) if keys is None else list(keys)
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
            noise.append(torch.randn((n_samples, *x.shape[1:]), generator=generator, dtype=x.dtype))
        return copies + torch.cat(noise).to(x.device) * sigma.repeat_interleave(n_samples).view(-1, 1, 1, 1)

    def _integrate(self, model: GeoModel, score: ScoreFn, inputs: torch.Tensor, baselines: torch.Tensor,
                   rows: torch.Tensor, opts: dict[str, Any]) -> torch.Tensor:
        """IG of every row of ``inputs`` [N, 3, H, W] from its baseline; ``rows`` maps each row to
        its image in the batch (for per-image targets)."""
        alphas, weights = integration_rule(opts["method"], int(opts["n_steps"]))
        chunk = opts["internal_batch_size"] or opts["batch_size"]
        chunk = int(chunk)
        if chunk < 1:
            raise ValueError(f"batch_size must be >= 1, got {chunk}")
        dtype_name = str(opts["dtype"])
        if dtype_name not in DTYPES:
            raise ValueError(f"unknown dtype {dtype_name!r}; use one of {', '.join(DTYPES)}")
        autocast_dtype = DTYPES[dtype_name]
        device = inputs.device
        alpha_t = torch.tensor(alphas, dtype=torch.float32, device=device)
        # captum multiplies float32 gradients by float32 step sizes; do the same
        weight_t = torch.tensor(weights).float().to(device)
        n_rows, n_steps = inputs.shape[0], len(alphas)
        diff = inputs - baselines
        total = torch.zeros_like(inputs)
        memory_format = torch.channels_last if _flag(opts, "channels_last") else torch.contiguous_format
        # (row, step) pairs, row-major: consecutive chunks reuse the same few images
        pair_rows = torch.arange(n_rows, device=device).repeat_interleave(n_steps)
        pair_steps = torch.arange(n_steps, device=device).repeat(n_rows)
        for start in range(0, n_rows * n_steps, chunk):
            r = pair_rows[start:start + chunk]
            s = pair_steps[start:start + chunk]
            scaled = baselines[r] + alpha_t[s].view(-1, 1, 1, 1) * diff[r]
            scaled = scaled.contiguous(memory_format=memory_format).requires_grad_(True)
            with _autocast(device, autocast_dtype), torch.enable_grad():
                out = score(model(scaled), rows[r])
            (grad,) = torch.autograd.grad(out.float().sum(), scaled)
            total.index_add_(0, r, grad.float() * weight_t[s].view(-1, 1, 1, 1))
        return total * diff


def _flag(opts: dict[str, Any], name: str) -> bool:
    value = opts[name]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"option {name} must be true or false, got {value!r}")


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
