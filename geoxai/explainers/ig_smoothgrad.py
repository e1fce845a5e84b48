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
``memory_format`` (channels_last inputs for a convolutional model on the CPU by default;
``geoxai.layout``) and ``fold_batchnorm`` (on by default: eval BatchNorm folded into the preceding
convolution, in a network built beside the model: the same function, other rounding), and opt-in
``dtype`` autocast.

``budget=N`` spends N forward+backward passes per image the way the measured frontier says is
best (more noisy copies, fewer steps, variance-reduced noise; docs/explainers.md); ``budget=80`` is
the default, ``preset="paper"`` (or explicit ``n_samples``/``n_steps``) the paper's 5 x 50; the noise
schemes are in ``geoxai.explainers.noise``. ``explain_with_info`` returns, with the maps, one dict per
image: the completeness ratio and the noise left in the map (``_ig_diagnostics``), and the clean logits.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch

from ..interfaces import GeoModel
from ..layout import input_layout
from ..options import NonNegativeFloat, NonNegativeInt, PositiveInt, Range
from ..targets import parse_target
from ..types import Attribution, ImageBatch
from ._ig_diagnostics import per_image_info, warn_incomplete, warn_slow_bfloat16
from .base import BaseExplainer, clean_logits, map_dtype, model_input, to_maps, untouched
from .batchnorm import folded_network
from .noise import check_sampling, noise_keys, noisy_inputs

#: (scores [N, C], rows [N] = which image of the batch each row belongs to) -> [N] scalars
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: what ``budget=N`` does, from the measured compute-to-fidelity frontier (docs/explainers.md):
#: N // 4 noisy copies x 4 Gauss-Legendre steps at every budget. 2 steps rank pixels a little
#: closer to the reference but give the worse concept influence at 224 px (and at 112 px the larger
#: upward bias of SmoothGrad²); 8 or more spend passes the noise needs.
BUDGET_STEPS = 4
BUDGET_SAMPLING = "antithetic"


def budget_plan(budget: int) -> tuple[int, int, str]:
    """(n_samples, n_steps, sampling) for ``budget`` forward+backward passes per image."""
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ValueError(f"budget must be a whole number of passes per image, got {budget!r}")
    steps = BUDGET_STEPS
    samples = int(budget) // steps
    if BUDGET_SAMPLING == "antithetic":
        samples -= samples % 2
    if samples < 2:
        raise ValueError(f"budget must be at least {2 * steps} passes per image, got {budget}")
    return samples, steps, BUDGET_SAMPLING


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
        n_samples: PositiveInt = 5     # noisy copies per image
        stdev: NonNegativeFloat = 0.15  # noise sigma as a fraction of each image's value range
        n_steps: PositiveInt = 50      # integration steps
        method: Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                        "riemann_middle"] = "gausslegendre"
        #: "black", "zeros", a number (input space) or a tensor (uint8 pixels or input space)
        baseline: str | float | torch.Tensor = "black"
        seed: int | None = 0           # None: fresh noise on every call
        batch_size: PositiveInt = 32   # (copy x step) inputs per forward/backward pass
        internal_batch_size: PositiveInt | None = None  # captum's name for batch_size; wins when given
        channels_last: bool = False    # True forces channels_last inputs (memory_format="channels_last")
        #: input layout of the passes (``geoxai.layout``): auto = channels_last for a convolutional
        #: model on the CPU (the same function, other float rounding; 1.3-1.5x faster, docs/benchmarks.md)
        memory_format: Literal["auto", "contiguous", "channels_last"] = "auto"
        #: fold each eval BatchNorm into the convolution before it for the passes (the same function,
        #: other float rounding; 1.3x faster on EfficientNet-Lite0, docs/benchmarks.md)
        fold_batchnorm: bool = True
        dtype: Literal["float32", "bfloat16", "float16"] = "float32"
        #: how one image's noisy copies are drawn (``geoxai.explainers.noise``); "gaussian" is the paper's
        sampling: Literal["gaussian", "antithetic", "stratified", "sobol"] = "gaussian"
        #: passes per image: picks n_samples, n_steps and sampling (the default, measured better and
        #: 2.8x cheaper than the paper's 5 x 50 on real photos); used unless n_samples/n_steps or
        #: preset="paper" are given
        budget: Annotated[int, Range(min=2 * BUDGET_STEPS)] | None = 80
        preset: Literal["budget", "paper"] = "budget"  # "paper": the paper's 5 x 50 Gaussian copies
        diagnostics: bool = True       # completeness + noise per image in Attribution.info
        #: noisy copies per image whose completeness is measured (a forward pass each); None: as many
        #: as fit in 2 % of the integration's work (docs/explainers.md), all of them at the paper's 5 x 50
        completeness_copies: NonNegativeInt | None = None

    # ---- public entry points -------------------------------------------------------------
    def explain(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None, **options: Any) -> torch.Tensor:
        return self.explain_with_info(model, images, target, **options).maps

    def explain_with_info(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None,
                          **options: Any) -> Attribution:
        smoothed, info, logits = self._smoothed(model, images, target, options)
        return Attribution(to_maps(smoothed.amax(dim=1)), info, None if logits is None else logits.detach().cpu())

    def attribute(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None,
                  **options: Any) -> torch.Tensor:
        """SmoothGrad² per colour channel [B, 3, H, W] (before the channel max): what captum's
        ``NoiseTunnel(IntegratedGradients).attribute(..., nt_type="smoothgrad_sq")`` returns."""
        return self.attribute_with_info(model, images, target, **options)[0]

    def attribute_with_info(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None,
                            **options: Any) -> tuple[torch.Tensor, list[dict[str, Any]] | None]:
        """``attribute``'s per-channel maps with the per-image info (completeness, noise)."""
        smoothed, info, _ = self._smoothed(model, images, target, options)
        return smoothed.detach().float().cpu(), info

    def plan(self, **options: Any) -> tuple[int, int, str]:
        """(n_samples, n_steps, sampling) these options run: ``budget`` (80 by default) resolved,
        unless ``n_samples``/``n_steps``, ``budget=None`` or ``preset="paper"`` ask for the
        explicit split (the paper's 5 x 50 Gaussian copies where not given)."""
        opts = self.resolved_options(**options)
        given = {**self.options, **options}
        if opts["preset"] not in ("budget", "paper"):
            raise ValueError(f"ig-smoothgrad: preset must be 'budget' or 'paper', got {opts['preset']!r}")
        explicit = sorted(k for k in ("n_samples", "n_steps") if k in given)
        if given.get("budget") is not None:
            clash = explicit + (["preset=paper"] if opts["preset"] == "paper" else [])
            if clash:
                raise ValueError(
                    f"ig-smoothgrad: budget picks n_samples and n_steps; do not also give {', '.join(clash)}")
        if self.uses_budget(**options):
            samples, steps, sampling = budget_plan(opts["budget"])
            return samples, steps, given.get("sampling", sampling)
        n = int(opts["n_samples"])
        if n < 1:
            raise ValueError(f"n_samples must be >= 1, got {n}")
        return n, int(opts["n_steps"]), str(opts["sampling"])

    def uses_budget(self, **options: Any) -> bool:
        """Whether these options run ``budget`` (the default) rather than an explicit split."""
        given = {**self.options, **options}
        if given.get("budget") is not None:
            return True
        explicit = "budget" in given or any(k in given for k in ("n_samples", "n_steps"))
        return not explicit and given.get("preset", "budget") != "paper"

    def _smoothed(self, model: GeoModel, images: ImageBatch | torch.Tensor, target, options: dict[str, Any]):
        """(SmoothGrad² [B, 3, H, W], per-image info or None, clean logits [B, C] or None)."""
        opts = self.resolved_options(**options)
        n, steps, sampling = self.plan(**options)
        check_sampling(sampling, n)
        opts["n_steps"] = steps
        x = model_input(model, images)
        _resolve_layout(opts, model, x)
        with untouched(model):
            # the clean pass only where the target needs it (the predicted cell); handed back to the caller
            logits = clean_logits(model, x) if parse_target(target).needs_logits else None
            score = self.bind_target(model, target, logits).score
            baseline = self.baseline(model, x, opts["baseline"])
            noisy = self.noisy_inputs(x, n, float(opts["stdev"]), opts["seed"], keys=self.noise_keys(images),
                                      sampling=sampling)
            rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(n)
            network = _network(model, x, opts, {**self.options, **options})
            ig = self._integrate(network, score, noisy, baseline.expand_as(x)[rows], rows, opts)
            copies = completeness_copies(opts["completeness_copies"], n, steps, x.shape[0],
                                         shared_baseline=baseline.shape[0] == 1)
            gaps = None
            if _flag(opts, "diagnostics") and copies:
                measured = (rows.view(-1, n)[:, :copies] * n + torch.arange(copies, device=x.device)).flatten()
                gaps = self._score_gaps(network, score, noisy[measured], baseline, rows[measured], opts)
        b, c, h, w = x.shape
        squares = ig.pow(2).view(b, n, c, h, w)
        smoothed = squares.sum(1) / n
        info = None
        if _flag(opts, "diagnostics"):
            info = per_image_info(ig, squares, gaps, n_samples=n, n_steps=steps, sampling=sampling,
                                  copies=copies)
            if not getattr(self, "_warned_incomplete", False):  # a warn-once flag, not a result: races are harmless
                ids = images.ids if isinstance(images, ImageBatch) else None
                budget = opts["budget"] if self.uses_budget(**options) else None
                self._warned_incomplete = warn_incomplete(info, ids, steps, budget)
        return smoothed, info, logits

    def attribute_raw(self, model: GeoModel, images: ImageBatch | torch.Tensor, target=None,
                      **options: Any) -> torch.Tensor:
        """Plain Integrated Gradients [B, 3, H, W] of the clean images (no noise, no squaring,
        no channel max): the per-channel attributions whose sum approximates f(x) - f(baseline)."""
        opts = self.resolved_options(**options)
        x = model_input(model, images)
        _resolve_layout(opts, model, x)
        with untouched(model):
            score = self.bind_target(model, target, inputs=x).score
            baseline = self.baseline(model, x, opts["baseline"]).expand_as(x)
            rows = torch.arange(x.shape[0], device=x.device)
            ig = self._integrate(_network(model, x, opts, {**self.options, **options}), score, x, baseline, rows, opts)
        return ig.detach().to(map_dtype(ig)).cpu()

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

    # the noise is NoiseTunnel's (geoxai.explainers.noise), kept reachable here for callers of the class
    noise_keys = staticmethod(noise_keys)
    noisy_inputs = staticmethod(noisy_inputs)

    def _integrate(self, model: GeoModel, score: ScoreFn, inputs: torch.Tensor, baselines: torch.Tensor,
                   rows: torch.Tensor, opts: dict[str, Any]) -> torch.Tensor:
        """IG of every row of ``inputs`` [N, 3, H, W] from its baseline; ``rows`` maps each row to
        its image in the batch (for per-image targets)."""
        alphas, weights = integration_rule(opts["method"], int(opts["n_steps"]))
        chunk, autocast_dtype, memory_format = _pass_settings(opts)
        device = inputs.device
        warn_slow_bfloat16(device, autocast_dtype)
        real = map_dtype(inputs)  # float64 for a float64 model, else float32
        alpha_t = torch.tensor(alphas, dtype=real, device=device)
        # captum multiplies float32 gradients by float32 step sizes; do the same (float64 in float64)
        weight_t = torch.tensor(weights).to(device, real)
        n_rows, n_steps = inputs.shape[0], len(alphas)
        diff = inputs - baselines
        total = torch.zeros_like(inputs, dtype=real)
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
            total.index_add_(0, r, grad.to(real) * weight_t[s].view(-1, 1, 1, 1))
        return total * diff

    @staticmethod
    def _score_gaps(model: GeoModel, score: ScoreFn, inputs: torch.Tensor, baselines: torch.Tensor,
                    rows: torch.Tensor, opts: dict[str, Any]) -> torch.Tensor:
        """f(input row) - f(its image's baseline) [N], forward passes only: completeness's right side.
        ``baselines`` is one per image, or one shared by every image (black, zeros, a number): then
        it is one forward pass, scored for each image's target."""
        chunk, autocast_dtype, memory_format = _pass_settings(opts)
        points = torch.cat([inputs, baselines])
        with torch.no_grad(), _autocast(inputs.device, autocast_dtype):
            logits = torch.cat([model(points[start:start + chunk].contiguous(memory_format=memory_format))
                                for start in range(0, points.shape[0], chunk)])
            count = int(rows.max()) + 1 if baselines.shape[0] == 1 else baselines.shape[0]
            base = logits[inputs.shape[0]:].expand(count, -1) if baselines.shape[0] == 1 else logits[inputs.shape[0]:]
            input_scores = score(logits[:inputs.shape[0]], rows).double()
            base_scores = score(base, torch.arange(count, device=inputs.device)).double()
        return input_scores - base_scores[rows]


#: the share of the integration's work the completeness check may cost (one forward per measured copy,
#: a forward+backward pass counted as two forwards): issue 24's bound, so diagnostics stay on by default
COMPLETENESS_WORK_SHARE = 0.02


def completeness_copies(requested: int | None, n_samples: int, n_steps: int, images: int,
                        shared_baseline: bool) -> int:
    """How many noisy copies per image get their completeness measured: ``requested``, or as many as
    fit in ``COMPLETENESS_WORK_SHARE`` of the integration (``2 * n_samples * n_steps`` forward
    equivalents per image), after the baseline's forward (one per batch when shared)."""
    if requested is not None:
        return min(int(requested), n_samples)
    allowed = COMPLETENESS_WORK_SHARE * 2 * n_samples * n_steps - (1 / images if shared_baseline else 1)
    return max(0, min(n_samples, int(allowed)))


def _pass_settings(opts: dict[str, Any]) -> tuple[int, torch.dtype | None, torch.memory_format]:
    """(inputs per pass, autocast dtype or None, memory layout) of the forward(+backward) passes."""
    chunk = int(opts["internal_batch_size"] or opts["batch_size"])
    if chunk < 1:
        raise ValueError(f"batch_size must be >= 1, got {chunk}")
    dtype_name = str(opts["dtype"])
    if dtype_name not in DTYPES:
        raise ValueError(f"unknown dtype {dtype_name!r}; use one of {', '.join(DTYPES)}")
    memory_format = torch.channels_last if opts["memory_format"] == "channels_last" else torch.contiguous_format
    return chunk, DTYPES[dtype_name], memory_format


def _resolve_layout(opts: dict[str, Any], model: GeoModel, x: torch.Tensor) -> None:
    """``opts["memory_format"]`` resolved for this model and input (``channels_last=True`` forces it)."""
    requested = "channels_last" if _flag(opts, "channels_last") else str(opts["memory_format"])
    layout = input_layout(model, x, requested)
    opts["memory_format"] = "channels_last" if layout == torch.channels_last else "contiguous"


def _network(model: GeoModel, x: torch.Tensor, opts: dict[str, Any], given: dict[str, Any]):
    """What the passes run: ``model`` with its eval BatchNorms folded into their convolutions
    (``fold_batchnorm``, on by default: the same function, other float rounding, and the model
    itself untouched), else ``model``. Only a user who asked for folding hears that it could not be
    done (a convolution whose output is used by more than its BatchNorm)."""
    if not _flag(opts, "fold_batchnorm"):
        return model
    return folded_network(model, x[:1], warn="fold_batchnorm" in given)[0]


def _flag(opts: dict[str, Any], name: str) -> bool:
    value = opts[name]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"option {name} must be true or false, got {value!r}")


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
