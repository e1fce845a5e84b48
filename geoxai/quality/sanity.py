"""Model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

The weights are randomised cascading from the head down, stage by stage, and the map is
recomputed after each stage. A map that explains the model must change as the model is destroyed:
its Spearman rank correlation (and SSIM) with the original map should fall towards 0. A map that
stays similar reflects the image (edges, colour) rather than the network's function.

Stages come from the model's declared CAM layers (``GeoModel.cam_layers``, ordered by where their
parameters sit); parameters after the last declared layer form the ``output`` stage (the
classifier), those before a layer belong to it (so the stem joins the first stage). A model that
declares none is split into the children of its first module with more than one child.

Randomisation replaces every parameter tensor of a stage by Gaussian noise with that tensor's own
mean and standard deviation (seeded), which keeps activations in a plausible range; buffers
(BatchNorm statistics) are kept. All weights and buffers are restored bit for bit afterwards, also
when the explainer raises half-way.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..interfaces import GeoModel
from ._targets import fix_target, intact_scores, maps_only
from .deletion import as_batch, resolve_explainer
from .similarity import spearman, ssim


def model_stages(model: GeoModel) -> list[tuple[str, list[str]]]:
    """(stage name, parameter names) from the head down; every parameter is in exactly one stage."""
    names = [n for n, _ in model.named_parameters()]
    if not names:
        raise ValueError(f"model {model.name!r} has no parameters to randomise")
    layers = _declared_layers(model) or _child_layers(model)
    cuts = []
    for friendly, path in layers:
        inside = [i for i, n in enumerate(names) if n.startswith(path + ".")]
        if inside:
            cuts.append((max(inside), friendly))
    cuts = sorted(set(cuts))
    stages, start = [], 0
    for cut, friendly in cuts:
        if cut >= start:
            stages.append((friendly, names[start:cut + 1]))
            start = cut + 1
    if start < len(names):
        stages.append(("output", names[start:]))
    return stages[::-1]


def _declared_layers(model: GeoModel) -> list[tuple[str, str]]:
    seen, out = set(), []
    for friendly, path in getattr(model, "cam_layers", {}).items():
        if path not in seen:
            seen.add(path)
            out.append((friendly, path))
    return out


def _child_layers(model: torch.nn.Module) -> list[tuple[str, str]]:
    prefix, module = "", model
    while True:
        children = [(n, m) for n, m in module.named_children() if any(True for _ in m.parameters())]
        if len(children) != 1:
            break
        name, module = children[0]
        prefix = f"{prefix}{name}."
    return [(f"{prefix}{n}", f"{prefix}{n}") for n, _ in children]


@contextlib.contextmanager
def restored_weights(model: torch.nn.Module):
    """Everything in ``state_dict`` is copied back in place afterwards, bit for bit, on any exit."""
    saved = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    try:
        yield
    finally:
        with torch.no_grad():
            for k, v in model.state_dict(keep_vars=True).items():
                v.data.copy_(saved[k])


@contextlib.contextmanager
def restored_rng():
    state = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def randomise(params: list[torch.nn.Parameter], generator: torch.Generator) -> None:
    with torch.no_grad():
        for p in params:
            data = p.detach().double()
            std = float(data.std()) if data.numel() > 1 else 0.0
            if not np.isfinite(std) or std == 0.0:
                std = float(data.abs().mean()) or 1.0
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            p.data.copy_((float(data.mean()) + std * noise).to(p.dtype))


@dataclass
class SanityResult:
    """``spearman`` and ``ssim`` are [stages, B]: row s compares the map after randomising stages
    0..s (head first) with the original map. A constant map counts as Spearman 0 (it keeps none of
    the original ranking)."""

    stages: list[str]
    spearman: np.ndarray
    ssim: np.ndarray
    image_ids: list[str]

    def mean_spearman(self) -> dict[str, float]:
        return {s: float(np.nanmean(self.spearman[i])) for i, s in enumerate(self.stages)}

    def mean_ssim(self) -> dict[str, float]:
        return {s: float(np.nanmean(self.ssim[i])) for i, s in enumerate(self.stages)}

    def passed(self, threshold: float = 0.5) -> bool:
        """True when, with every stage randomised, the mean |Spearman| is below ``threshold``."""
        return bool(np.nanmean(np.abs(self.spearman[-1])) < threshold)

    def verdict(self, threshold: float = 0.5) -> str:
        """``pass``: the map already decorrelates (mean |Spearman| < threshold) once the first stage
        (the classifier) is random; ``partial``: only by the end of the cascade; ``fail``: never."""
        return sanity_verdict(self.spearman, threshold)

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for i, stage in enumerate(self.stages):
            for b, image_id in enumerate(self.image_ids):
                rows.append({"image_id": image_id, "depth": i + 1, "stage": stage,
                             "spearman": float(self.spearman[i, b]), "ssim": float(self.ssim[i, b])})
        return pd.DataFrame(rows)


def sanity_verdict(spearman: np.ndarray, threshold: float = 0.5) -> str:
    """The verdict of ``SanityResult.verdict`` for a [stages, images] Spearman array."""
    first, last = (float(np.nanmean(np.abs(spearman[i]))) for i in (0, -1))
    return "pass" if first < threshold else ("partial" if last < threshold else "fail")


def sanity_check(model: GeoModel, explainer, images, target=None, stages: int | None = None,
                 seed: int = 0, maps: torch.Tensor | None = None,
                 clean_scores: torch.Tensor | None = None) -> SanityResult:
    """Cascading randomisation from the head down (at most ``stages`` stages; default all).

    ``maps`` are the original maps and ``clean_scores`` the intact model's scores [B, C] on
    ``images``, if already computed. The target is fixed on the intact model (``predicted`` = the
    intact model's top cell), so every randomised map explains the same cell."""
    explainer = resolve_explainer(explainer)
    images, x = as_batch(model, images)
    ids = list(images.ids) if hasattr(images, "ids") else [str(i) for i in range(len(x))]
    groups = model_stages(model)[: stages or None]
    params = dict(model.named_parameters())
    was_training = model.training
    model.eval()
    rows_s, rows_m = [], []
    try:
        with restored_weights(model), restored_rng():
            fixed = fix_target(model, intact_scores(model, x, clean_scores), target)
            torch.manual_seed(seed)
            original = maps.float().cpu() if maps is not None else fixed.explain(explainer, model, images,
                                                                                 **maps_only(explainer))
            generator = torch.Generator().manual_seed(int(seed))
            for _, names in groups:
                randomise([params[n] for n in names], generator)
                torch.manual_seed(seed)
                randomised = fixed.explain(explainer, model, images, **maps_only(explainer))
                rows_s.append(_constant_is_zero(spearman(randomised, original)))
                rows_m.append(ssim(randomised, original).numpy())
    finally:
        model.train(was_training)
    return SanityResult([g[0] for g in groups], np.stack(rows_s), np.stack(rows_m), ids)


def _constant_is_zero(values: torch.Tensor) -> np.ndarray:
    return torch.nan_to_num(values, nan=0.0).numpy()
