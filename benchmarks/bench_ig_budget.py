"""IG-SmoothGrad²: how close to the converged map does each way of spending a budget get?

    PYTHONPATH=. python benchmarks/bench_ig_budget.py --size 112 --threads 2 --out /tmp/ig-budget

On the real ImageNet EfficientNet-Lite0 (``geoxai.realnet``) and real photos, a reference map per
photo is computed with many noisy copies x many Gauss-Legendre steps, as two independent halves
(different noise seeds) whose agreement shows how converged it is. Then, for every budget of
forward+backward passes per image, each split (noisy copies x steps), integration rule and noise
sampling scheme is run with ``--seeds`` noise seeds and compared with the reference: Spearman and
top-1000 overlap of the map, the mean absolute error of the concept influence (ci, k=1000) of a
4 x 4 grid of rectangular regions, the mass ratio sum(map)/sum(reference) per channel before the
channel max (SmoothGrad² squares each copy's IG, so an inexact integral biases it upward), and the
completeness error |sum IG / (f(x+noise) - f(baseline)) - 1|. captum's
``NoiseTunnel(IntegratedGradients)`` (smoothgrad_sq, 5 x 50, Gauss-Legendre, its own noise) is
measured in the same run. ``--goal`` runs only captum, the paper's setting and the ``budget=``
option at the given budgets (the goal table); ``--resnet-timing`` times them on a random-weight
ResNet-50 at 224 px (no fidelity). Fidelity results per (row, photo, seed) go to ``OUT/rows.jsonl``
as they are made, so an interrupted run resumes where it stopped. Time is measured apart from
fidelity, by the one harness (``harness.time_rotating``): every row on the first photo (seed 0),
a warm-up of each, then ``--rounds`` rounds in rotating order; medians of CPU and wall seconds
per image against captum's, written to ``OUT/<mode>-timing.md`` (kept on a resumed run).
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from harness import describe_machine, require_peer, rotation_table, time_rotating, timed_call, timing_arguments

from geoxai.ci import concept_influence
from geoxai.explainers._ig_diagnostics import rank_correlation
from geoxai.explainers.ig_smoothgrad import IGSmoothGrad, budget_plan
from geoxai.quality import similarity
from geoxai.types import ImageBatch

GRID = 4


def top_overlap(a: torch.Tensor, b: torch.Tensor, k: int = 1000) -> float:
    return float(similarity.topk_overlap(a, b, k))


def grid_regions(size: int) -> torch.Tensor:
    cells = (torch.arange(size) * GRID) // size
    return (cells[:, None] * GRID + cells[None, :])[None]


def region_ci(heat: torch.Tensor) -> np.ndarray:
    seg = grid_regions(heat.shape[-1])
    return concept_influence(heat[None].float(), seg, k=1000, min_size=0.0, num_concepts=GRID * GRID).ci[0].numpy()


#: (budget, n_samples, n_steps, sampling, rule) compared after captum's 5 x 50, the most telling
#: first, so a run cut short on a slow machine still answers the main question
FRONTIER = (
    (80, 40, 2, "antithetic", "gl"), (80, 20, 4, "antithetic", "gl"), (250, 62, 4, "antithetic", "gl"),
    (80, 40, 2, "gaussian", "gl"), (250, 5, 50, "gaussian", "gl"), (250, 124, 2, "antithetic", "gl"),
    (80, 40, 2, "sobol", "gl"), (100, 50, 2, "gaussian", "gl"), (100, 25, 4, "gaussian", "gl"),
    (100, 12, 8, "gaussian", "gl"), (100, 50, 2, "antithetic", "gl"), (100, 50, 2, "sobol", "gl"),
    (100, 50, 2, "stratified", "gl"), (50, 24, 2, "antithetic", "gl"), (50, 12, 4, "gaussian", "gl"),
    (50, 12, 4, "gaussian", "riemann_trapezoid"), (50, 12, 4, "gaussian", "riemann_left"),
    (50, 12, 4, "gaussian", "riemann_middle"),
)
#: the wider comparison for a faster machine (``--wide``): more splits at every budget
WIDE = (
    (250, 15, 16, "gaussian", "gl"), (250, 31, 8, "gaussian", "gl"), (250, 62, 4, "gaussian", "gl"),
    (250, 125, 2, "gaussian", "gl"), (250, 64, 4, "sobol", "gl"), (100, 24, 4, "antithetic", "gl"),
    (50, 25, 2, "gaussian", "gl"), (50, 6, 8, "gaussian", "gl"), (50, 24, 2, "sobol", "gl"),
    (50, 12, 4, "antithetic", "gl"),
)


def frontier_rows(budgets: list[int], wide: bool = False) -> list[dict]:
    """captum's 5 x 50, then every (split, sampling, rule) of ``FRONTIER`` at the chosen budgets."""
    rows = [{"budget": 250, "label": CAPTUM, "captum": True}]
    for budget, samples, steps, sampling, method in FRONTIER + (WIDE if wide else ()):
        if budget not in budgets:
            continue
        method = "gausslegendre" if method == "gl" else method
        rule = "GL" if method == "gausslegendre" else method
        rows.append({"budget": budget, "label": f"{samples}x{steps} {sampling} {rule}", "n_samples": samples,
                     "n_steps": steps, "sampling": sampling, "method": method})
    return rows


def goal_rows(budgets: list[int]) -> list[dict]:
    rows = [{"budget": 250, "label": CAPTUM, "captum": True},
            {"budget": 250, "label": "ours paper 5x50 gaussian", "n_samples": 5, "n_steps": 50,
             "sampling": "gaussian", "method": "gausslegendre"}]
    for budget in budgets:
        n, k, sampling = budget_plan(budget)
        rows.append({"budget": n * k, "label": f"ours budget={budget} ({n}x{k} {sampling})", "budget_option": budget})
    return rows


CAPTUM = "captum NoiseTunnel(IG) 5x50"


def row_call(row: dict, model, batch_i, x_i, cell, seed: int, batch_size: int):
    """A callable computing the row's map of one photo: (map [H, W], per-channel SmoothGrad² [3, H, W],
    completeness or None)."""
    if row.get("captum"):
        require_peer("captum", "captum")
        from captum.attr import IntegratedGradients, NoiseTunnel

        sigma = 0.15 * float(x_i.max() - x_i.min())
        black = IGSmoothGrad.baseline(model, x_i, "black")

        def captum_row():
            torch.manual_seed(seed)
            attr = NoiseTunnel(IntegratedGradients(model)).attribute(
                x_i, nt_type="smoothgrad_sq", nt_samples=5, stdevs=sigma, n_steps=50, method="gausslegendre",
                baselines=black, target=cell, internal_batch_size=batch_size).detach().cpu()
            model.zero_grad(set_to_none=True)
            return attr[0].amax(0), attr[0], None
        return captum_row
    # every copy's completeness is measured, as in the tables of docs/explainers.md (the default measures
    # only what fits in 2 % of the work)
    explainer = IGSmoothGrad(seed=seed, batch_size=batch_size, completeness_copies=1 << 16)
    if "budget_option" in row:
        opts = {"budget": row["budget_option"]}
    else:
        opts = {k: row[k] for k in ("n_samples", "n_steps", "sampling", "method")}

    def ours_row():
        attributions, info = explainer.attribute_with_info(model, batch_i, **opts)
        return attributions[0].amax(0), attributions[0], (info or [{}])[0].get("completeness")
    return ours_row


def timing_table(rows: list[dict], model, batch_i, x_i, cell, args, path: Path) -> str:
    """Every row on one photo, timed by the harness in rotating order; cached in ``path``."""
    if path.exists():
        return path.read_text()
    run = time_rotating({row["label"]: row_call(row, model, batch_i, x_i, cell, 0, args.batch_size)
                         for row in rows}, rounds=args.rounds)
    errors = {label: {"completeness error": "-" if out[2] is None else f"{abs(out[2] - 1):.4f}"}
              for label, out in run.outputs.items()}
    text = (f"{describe_machine()}; photo {batch_i.ids[0]}, {args.rounds} rounds in rotating order after a "
            f"warm-up of each row\n\n" + rotation_table(run, reference=CAPTUM if CAPTUM in run.timings else None,
                                                         extra=errors))
    path.write_text(text + "\n")
    return text


def reference(model, batch, names, args, out: Path) -> dict[str, dict]:
    """Two independent halves per photo, cached in OUT/reference.npz."""
    path = out / f"reference-{args.size}-{args.ref_samples}x{args.ref_steps}.npz"
    if path.exists():
        data = np.load(path)
        return {n: {"a": torch.from_numpy(data[f"{n}_a"]), "b": torch.from_numpy(data[f"{n}_b"])} for n in names}
    refs, arrays = {}, {}
    half = args.ref_samples // 2
    for i, name in enumerate(names):
        halves = []
        for seed in (10_001, 10_002):
            e = IGSmoothGrad(n_samples=half, n_steps=args.ref_steps, seed=seed, batch_size=args.batch_size)
            wall, _, (attributions, info) = timed_call(lambda e=e, i=i: e.attribute_with_info(model, batch[i]))
            halves.append(attributions[0])
            print(f"reference {name} half seed {seed}: {wall:.0f} s (progress, not a figure), "
                  f"completeness {(info or [{}])[0].get('completeness', float('nan')):.4f}", flush=True)
        refs[name] = {"a": halves[0], "b": halves[1]}
        arrays[f"{name}_a"], arrays[f"{name}_b"] = halves[0].numpy(), halves[1].numpy()
    np.savez_compressed(path, **arrays)
    return refs


def load_network(size: int, resnet: bool):
    if resnet:
        from _common import ResNet50Geo

        return ResNet50Geo(1000, 224)
    from geoxai.realnet import ImageNetLite0

    model = ImageNetLite0()
    model.view_config = model.view_config.replace(input_size=size, resize_size=int(round(size * 256 / 224)))
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default="chelsea,astronaut")
    ap.add_argument("--size", type=int, default=112, help="input size (the network's native size is 224)")
    ap.add_argument("--budgets", default="50,80,100,250")
    ap.add_argument("--seeds", type=int, default=1, help="noise seeds per row and photo")
    ap.add_argument("--ref-samples", type=int, default=64)
    ap.add_argument("--ref-steps", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32)
    timing_arguments(ap)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--wide", action="store_true", help="also the splits of WIDE (a faster machine's run)")
    ap.add_argument("--goal", action="store_true", help="only captum, the paper's setting and budget=")
    ap.add_argument("--resnet-timing", action="store_true", help="time the goal rows on ResNet-50 (no fidelity)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    # completeness is measured and printed per row; the explainer's warning would repeat it
    warnings.filterwarnings("ignore", message="ig-smoothgrad: the IG attributions")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    from geoxai.realnet import real_photos

    names = args.photos.split(",")
    budgets = [int(b) for b in args.budgets.split(",")]
    model = load_network(args.size, args.resnet_timing).to(args.device)
    photos = real_photos(tuple(names))
    views = model.prepare([photos[n] for n in names], ids=names)
    batch = [ImageBatch(views.pixels[i:i + 1], [name]) for i, name in enumerate(names)]
    x = model.as_input(views)
    with torch.no_grad():
        cells = model(x).argmax(1)
    print(f"machine: {describe_machine()}, device {args.device}; model {type(model).__name__} "
          f"at {model.view_config.input_size} px; photos {names}")
    rows = goal_rows(budgets) if args.goal or args.resnet_timing else frontier_rows(budgets, args.wide)
    mode = "resnet" if args.resnet_timing else "goal" if args.goal else "frontier"
    if not args.resnet_timing:
        log = args.out / ("rows.jsonl" if mode == "frontier" else "goal-rows.jsonl")
        fidelity(rows, model, batch, x, cells, names, args, log)
    table = timing_table(rows, model, batch[0], x[:1], cells[:1], args, args.out / f"{mode}-timing.md")
    print(f"\ntiming (the first photo, seed 0)\n{table}")


def fidelity(rows: list[dict], model, batch, x, cells, names: list[str], args, log: Path) -> None:
    """Every row's distances to the reference per (photo, seed), appended to ``log`` (a resumed run skips
    what it holds), then their means."""
    refs = reference(model, batch, names, args, args.out)
    for name in names:
        a, b = refs[name]["a"].amax(0), refs[name]["b"].amax(0)
        print(f"reference {name}: halves spearman {rank_correlation(a, b):.4f}, top-1000 "
              f"{top_overlap(a, b):.3f}, ci error {np.abs(region_ci(a) - region_ci(b)).mean():.4f}", flush=True)
    done = {(r["label"], r["photo"], r["seed"]) for r in map(json.loads, log.open())} if log.exists() else set()
    for row in rows:
        for i, name in enumerate(names):
            for seed in range(args.seeds):
                if (row["label"], name, seed) in done:
                    continue
                heat, per_channel, completeness = row_call(row, model, batch[i], x[i:i + 1], cells[i:i + 1], seed,
                                                           args.batch_size)()
                ref = (refs[name]["a"] + refs[name]["b"]) / 2
                ref_heat = ref.amax(0)
                record = {"label": row["label"], "budget": row["budget"], "photo": name, "seed": seed,
                          "completeness": completeness, "spearman": rank_correlation(heat, ref_heat),
                          "top1000": top_overlap(heat, ref_heat),
                          "ci_error": float(np.abs(region_ci(heat) - region_ci(ref_heat)).mean()),
                          "mass_ratio": float(per_channel.double().sum() / ref.double().sum())}
                with log.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    print_table(log)


def print_table(log: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame([json.loads(line) for line in log.open()])
    frame["completeness_error"] = (frame["completeness"].astype(float) - 1).abs()
    columns = [c for c in ("spearman", "top1000", "ci_error", "mass_ratio", "completeness_error")
               if c in frame]
    groups = frame.groupby(["budget", "label"], sort=False)
    table = groups[columns].mean()
    table.insert(0, "runs", groups.size())
    print(f"\nmean over photos and seeds (runs = photo x seed pairs; {frame.photo.nunique()} photos, up to "
          f"{frame.seed.nunique()} seeds)")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
