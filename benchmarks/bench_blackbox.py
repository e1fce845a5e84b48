"""Perturbation explainers at a small call budget against their exhaustive answers (issue 25).

    PYTHONPATH=. python benchmarks/bench_blackbox.py --model lite0 --size 96 --photos chelsea,coffee

Cost is counted in model calls (perturbed images scored), the unit a VLM user pays for. On a torch
model, where the exhaustive answer is cheap to compute, per photo:

* occlusion and RISE: the default 49-window occlusion map (window = side/4, stride = window/2) and a
  63-mask RISE map (with the clean call: 50 and 64 calls) against references of many more calls:
  occlusion with the same window at stride side/32 (626 calls at 64 or 96 px), RISE with 1,024 masks; Spearman of the
  maps (``geoxai.quality.similarity``);
* concept Shapley values of 10 concepts (a 2 x 5 grid of regions): sampled with antithetic
  permutations at 1/8 of the exact 1,024 evaluations, against the exact values, over ``--seeds``
  seeds; the error is max |sampled - exact| / sum |exact| (normalised), and the estimator's own
  convergence estimate (normalised standard error) is shown beside it.

Wall time per image is per method on this machine. ``--model tiny`` uses the random-weight test
model (no download); ``lite0`` the real ImageNet EfficientNet-Lite0 (``geoxai.realnet``).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from geoxai.concept_shapley import CoalitionGame, exact_shapley, sampled_shapley
from geoxai.explainers.concept_shap import ConceptShap
from geoxai.explainers.occlusion import Occlusion
from geoxai.explainers.perturbation import image_scorers
from geoxai.explainers.rise import RISE
from geoxai.quality.similarity import spearman
from geoxai.types import ImageBatch

sys.path.insert(0, str(Path(__file__).parent))


def load(name: str, size: int):
    if name == "tiny":
        from geoxai.testing import TinyGeoModel

        return TinyGeoModel(input_size=size)
    from geoxai.realnet import ImageNetLite0

    model = ImageNetLite0()
    model.view_config = model.view_config.replace(input_size=size, resize_size=int(round(size * 256 / 224)))
    return model


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def grid_segmentation(size: int, rows: int = 2, cols: int = 5) -> torch.Tensor:
    r = torch.arange(size) * rows // size
    c = torch.arange(size) * cols // size
    return (r[:, None] * cols + c[None, :])[None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny", "lite0"], default="lite0")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--photos", default="chelsea,coffee")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from geoxai.realnet import real_photos

    names = args.photos.split(",")
    model = load(args.model, args.size).eval()
    photos = real_photos(tuple(names))
    views = model.prepare([photos[n] for n in names], ids=names)
    size = views.size[0]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}; model {args.model} at {size} px; photos {names}")
    occlusion, rise, shap = Occlusion(), RISE(), ConceptShap()
    window = size // 4
    fine_stride = max(1, size // 32)
    rows = []
    for i, name in enumerate(names):
        one = ImageBatch(views.pixels[i:i + 1], [name])
        t_occ, cheap_occ = timed(lambda one=one: occlusion.explain_with_info(model, one))
        t_ref, ref_occ = timed(lambda one=one: occlusion.explain_with_info(model, one, stride=fine_stride,
                                                                           window=window))
        t_rise, cheap_rise = timed(lambda one=one: rise.explain_with_info(model, one, n_masks=63, seed=1))
        t_rref, ref_rise = timed(lambda one=one: rise.explain_with_info(model, one, n_masks=1024, seed=2))
        rows.append((name, "occlusion", cheap_occ.info[0]["calls"], ref_occ.info[0]["calls"],
                     float(spearman(cheap_occ.maps, ref_occ.maps)[0]), t_occ, t_ref))
        rows.append((name, "rise", cheap_rise.info[0]["calls"], ref_rise.info[0]["calls"],
                     float(spearman(cheap_rise.maps, ref_rise.maps)[0]), t_rise, t_rref))
    print("\n| photo | method | calls | reference calls | Spearman to reference | s / image | reference s / image |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, method, calls, ref_calls, rho, t, t_ref in rows:
        print(f"| {name} | {method} | {calls} | {ref_calls} | {rho:.3f} | {t:.1f} | {t_ref:.1f} |")

    print("\n| photo | exact evaluations | sampled evaluations | seeds | normalised error mean / max "
          "| normalised stderr (estimate) mean | exact s | sampled s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    segmentation = grid_segmentation(size)
    labels = segmentation[0]
    one_hot = torch.nn.functional.one_hot(labels, 10).permute(2, 0, 1).double()
    for i, name in enumerate(names):
        one = ImageBatch(views.pixels[i:i + 1], [name])
        (scorer,), _, _ = image_scorers(model, one, None, shap.resolve())

        def evaluate(members, scorer=scorer):
            keep = torch.einsum("mn,nhw->mhw", torch.from_numpy(members).double(), one_hot)
            return scorer.score_with_km(keep)

        t_exact, exact = timed(lambda evaluate=evaluate: exact_shapley(CoalitionGame(10, evaluate)))
        errors, stderrs, times, calls = [], [], [], []
        for seed in range(args.seeds):
            t, estimate = timed(lambda seed=seed, evaluate=evaluate: sampled_shapley(
                CoalitionGame(10, evaluate), 1024 // 8, seed=seed))
            errors.append(np.abs(estimate.values - exact.values).max() / np.abs(exact.values).sum())
            stderrs.append(estimate.normalised_stderr)
            times.append(t)
            calls.append(estimate.calls)
        print(f"| {name} | {exact.calls} | {max(calls)} | {args.seeds} | {np.mean(errors):.3f} / {np.max(errors):.3f} "
              f"| {np.mean(stderrs):.3f} | {t_exact:.1f} | {np.mean(times):.1f} |")


if __name__ == "__main__":
    main()
