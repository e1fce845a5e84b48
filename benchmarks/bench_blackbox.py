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

Time per image is measured apart from the fidelity, by the one harness (``harness.time_rotating``):
every method and its reference on every photo, and exact against sampled Shapley (seed 0), a warm-up
of each, then ``--rounds`` rounds in rotating order; medians of CPU and wall seconds. ``--model
tiny`` uses the random-weight test model (no download); ``lite0`` the real ImageNet
EfficientNet-Lite0 (``geoxai.realnet``).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from harness import describe_machine, rotation_table, time_rotating, timing_arguments

from geoxai.concept_shapley import CoalitionGame, exact_shapley, sampled_shapley
from geoxai.explainers.concept_shap import ConceptShap
from geoxai.explainers.occlusion import Occlusion
from geoxai.explainers.perturbation import image_scorers
from geoxai.explainers.rise import RISE
from geoxai.quality.similarity import spearman
from geoxai.types import ImageBatch


def load(name: str, size: int):
    if name == "tiny":
        from geoxai.testing import TinyGeoModel

        return TinyGeoModel(input_size=size)
    from geoxai.realnet import ImageNetLite0

    model = ImageNetLite0()
    model.view_config = model.view_config.replace(input_size=size, resize_size=int(round(size * 256 / 224)))
    return model


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
    timing_arguments(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from geoxai.realnet import real_photos

    names = args.photos.split(",")
    model = load(args.model, args.size).eval()
    photos = real_photos(tuple(names))
    views = model.prepare([photos[n] for n in names], ids=names)
    size = views.size[0]
    print(f"machine: {describe_machine()}; model {args.model} at {size} px; photos {names}; {args.rounds} rounds "
          f"in rotating order after a warm-up of each")
    occlusion, rise, shap = Occlusion(), RISE(), ConceptShap()
    window = size // 4
    fine_stride = max(1, size // 32)
    calls = {}
    for i, name in enumerate(names):
        one = ImageBatch(views.pixels[i:i + 1], [name])
        calls[f"{name} occlusion"] = lambda one=one: occlusion.explain_with_info(model, one)
        calls[f"{name} occlusion reference"] = lambda one=one: occlusion.explain_with_info(
            model, one, stride=fine_stride, window=window)
        calls[f"{name} rise"] = lambda one=one: rise.explain_with_info(model, one, n_masks=63, seed=1)
        calls[f"{name} rise reference"] = lambda one=one: rise.explain_with_info(model, one, n_masks=1024, seed=2)
    maps = time_rotating(calls, rounds=args.rounds)
    print("\n| photo | method | calls | reference calls | Spearman to reference |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in names:
        for method in ("occlusion", "rise"):
            cheap, ref = maps.outputs[f"{name} {method}"], maps.outputs[f"{name} {method} reference"]
            print(f"| {name} | {method} | {cheap.info[0]['calls']} | {ref.info[0]['calls']} | "
                  f"{float(spearman(cheap.maps, ref.maps)[0]):.3f} |")

    segmentation = grid_segmentation(size)
    labels = segmentation[0]
    one_hot = torch.nn.functional.one_hot(labels, 10).permute(2, 0, 1).double()
    games, calls = {}, {}
    for i, name in enumerate(names):
        one = ImageBatch(views.pixels[i:i + 1], [name])
        (scorer,), _, _ = image_scorers(model, one, None, shap.resolve())

        def evaluate(members, scorer=scorer):
            keep = torch.einsum("mn,nhw->mhw", torch.from_numpy(members).double(), one_hot)
            return scorer.score_with_km(keep)

        games[name] = evaluate
        calls[f"{name} exact Shapley"] = lambda evaluate=evaluate: exact_shapley(CoalitionGame(10, evaluate))
        calls[f"{name} sampled Shapley (seed 0)"] = lambda evaluate=evaluate: sampled_shapley(
            CoalitionGame(10, evaluate), 1024 // 8, seed=0)
    shapley = time_rotating(calls, rounds=args.rounds)
    print("\n| photo | exact evaluations | sampled evaluations | seeds | normalised error mean / max "
          "| normalised stderr (estimate) mean |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        exact = shapley.outputs[f"{name} exact Shapley"]
        estimates = [shapley.outputs[f"{name} sampled Shapley (seed 0)"]]
        estimates += [sampled_shapley(CoalitionGame(10, games[name]), 1024 // 8, seed=seed)
                      for seed in range(1, args.seeds)]
        errors = [np.abs(e.values - exact.values).max() / np.abs(exact.values).sum() for e in estimates]
        stderr = np.mean([e.normalised_stderr for e in estimates])
        print(f"| {name} | {exact.calls} | {max(e.calls for e in estimates)} | {len(estimates)} | "
              f"{np.mean(errors):.3f} / {np.max(errors):.3f} | {stderr:.3f} |")

    print(f"\ntime per image\n\n{rotation_table(maps)}\n\n{rotation_table(shapley)}")


if __name__ == "__main__":
    main()
