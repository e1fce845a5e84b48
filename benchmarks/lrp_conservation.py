"""LRP conservation on the real EfficientNet-Lite0 (``imagenet-lite0``), measured honestly.

For the top class of each photo, the sum of the input relevance is compared with the relevance
that enters the output (1 for a cell target, zennit's convention), with the biases as they are
(the default), with ``ignore_bias=True`` and uncanonized; in float32 and float64. With biases on,
the part the biases absorb is measured too: the same map with every bias, BatchNorm shift and
running mean set to zero conserves (the rules are exact there), so what is missing with biases
is theirs.

    python benchmarks/lrp_conservation.py            # ~10 minutes on two CPU cores (float64 is slow)

Numbers and what they mean: docs/explainers.md ("Conservation, measured").
"""
from __future__ import annotations

import copy
import sys

import torch

import geoxai
from geoxai.realnet import real_photos

PHOTOS = ("chelsea", "coffee")
SETTINGS = {"default (biases on)": {}, "ignore_bias=True": {"ignore_bias": True},
            "canonize=False": {"canonize": False}}


def without_biases(model: torch.nn.Module) -> torch.nn.Module:
    """A copy with every bias, BatchNorm shift and running mean zero (where LRP must conserve)."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.zero_()
    return model


def measure(model, batch, dtype: torch.dtype) -> dict[str, list[float]]:
    model = copy.deepcopy(model).to(dtype)
    x = model.as_input(batch).to(dtype)
    with torch.no_grad():
        logits = model(x)
    cells = logits.argmax(1)
    lrp = geoxai.load_explainer("lrp")
    rows = {}
    for label, options in SETTINGS.items():
        sums = []
        for i, cell in enumerate(cells.tolist()):
            maps = lrp.explain(model, x[i:i + 1], f"cell:{cell}", **options).double()
            sums.append(float(maps.sum()))
        rows[label] = sums
    zero = without_biases(model)
    rows["every bias zero (exact rules)"] = [
        float(lrp.explain(zero, x[i:i + 1], f"cell:{c}").double().sum()) for i, c in enumerate(cells.tolist())]
    rows["logit of the class"] = [float(logits[i, c]) for i, c in enumerate(cells.tolist())]
    return rows


def main() -> None:
    torch.manual_seed(0)
    model = geoxai.load_model("imagenet-lite0")
    photos = real_photos(PHOTOS)
    batch = model.prepare(list(photos.values()))
    print(f"input relevance sum per photo ({', '.join(PHOTOS)}); relevance entering the output = 1")
    for dtype in (torch.float32, torch.float64):
        print(f"\n{dtype}:")
        for label, sums in measure(model, batch, dtype).items():
            print(f"  {label:32s} " + "  ".join(f"{s:12.6g}" for s in sums))
    print("\nignore_bias=True, float64, first photo, by epsilon: sum and sum of |relevance|")
    model64 = copy.deepcopy(model).double()
    x = model64.as_input(batch).double()[:1]
    cell = int(model64(x).argmax())
    for epsilon in (1e-6, 1e-3, 1e-1):
        maps = geoxai.load_explainer("lrp").explain(model64, x, f"cell:{cell}", ignore_bias=True, epsilon=epsilon)
        print(f"  epsilon={epsilon:g}: {float(maps.double().sum()):12.6g}  {float(maps.double().abs().sum()):12.6g}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
