"""Explainer benchmark: our engines vs captum / pytorch-grad-cam on the same model and images.

    PYTHONPATH=. python benchmarks/bench_explainers.py --images 2 --steps 20 --samples 5 --threads 1

Model: torchvision ResNet-50 with random weights wrapped as a GeoModel with ``--cells`` cells, at
``--size`` pixels. IG-SmoothGrad² is compared with captum's ``NoiseTunnel(IntegratedGradients)``
(``smoothgrad_sq``, captum defaults otherwise: all noisy copies x steps of an image in one batch)
given the SAME noisy copies, so map differences come from numerics only. captum and every variant
of ours are timed by the one harness (``harness.time_rotating``): a warm-up of each, then
``--rounds`` rounds in rotating order; medians of CPU and wall time, ratios against captum.
Fidelity of each variant is measured against the float32 captum map: Spearman rank correlation
and the overlap of the top-1000 pixels. The CAM rows are compare.py's Grad-CAM and Combi-CAM cases
run on this model, and Combi-CAM's one pass against one Grad-CAM per block (the authors' loop).
"""
from __future__ import annotations

import argparse

import torch
from _common import ResNet50Geo  # the scripts' folder is on sys.path when run as a script
from compare import combicam_comparison, gradcam_comparison
from harness import (
    compare,
    describe_machine,
    markdown_table,
    require_peer,
    rotation_table,
    time_rotating,
    timing_arguments,
)

from geoxai.explainers.combicam import CombiCAM
from geoxai.explainers.gradcam import GradCAM
from geoxai.explainers.ig_smoothgrad import IGSmoothGrad
from geoxai.quality import similarity
from geoxai.testing import synthetic_photo

CAPTUM = "captum NoiseTunnel(IG) default"


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(similarity.spearman(a, b).mean())


def top_overlap(a: torch.Tensor, b: torch.Tensor, k: int = 1000) -> float:
    return float(similarity.topk_overlap(a, b, k).mean())


def fewer_steps_fidelity(model, x, n_samples: int, reference: int, steps: list[int]) -> None:
    """Less work per map: Gauss-Legendre with fewer steps against the reference step count."""
    explainer = IGSmoothGrad(n_samples=n_samples, batch_size=16, seed=0)
    ref = explainer.explain(model, x, n_steps=reference)
    print(f"\nfewer integration steps vs {reference} (same noise, first image)")
    for k in steps:
        maps = explainer.explain(model, x, n_steps=k)
        print(f"n_steps={k:3d}  work x{reference / k:5.2f} less  spearman {spearman(maps, ref):.4f}  "
              f"top1000 {top_overlap(maps, ref):.3f}")


def captum_default(model, x, noisy, black, cells, n: int, steps: int):
    """A callable: captum's NoiseTunnel(IG) with its defaults, given our noisy copies, one call per image
    (its default puts all n_samples x n_steps inputs of a call in ONE batch, and a whole batch of images
    would not fit in memory)."""
    require_peer("captum", "captum")
    from captum.attr import IntegratedGradients, NoiseTunnel

    tunnel = NoiseTunnel(IntegratedGradients(model))

    def run():
        maps = []
        original = NoiseTunnel._add_noise_to_input
        try:
            for i in range(len(x)):
                noisy_i = noisy[i * n:(i + 1) * n]
                NoiseTunnel._add_noise_to_input = staticmethod(lambda inp, stdev, k, noisy_i=noisy_i: noisy_i.clone())
                maps.append(tunnel.attribute(x[i:i + 1], nt_type="smoothgrad_sq", nt_samples=n, stdevs=0.15,
                                             n_steps=steps, baselines=black, target=cells[i:i + 1]).amax(1))
        finally:
            NoiseTunnel._add_noise_to_input = original
        model.zero_grad(set_to_none=True)
        return torch.cat(maps).detach().cpu()
    return run


def ig_variants(batch_sizes: list[int]) -> dict[str, dict]:
    """Our settings to time: float32 at each chunk size, then layouts and precisions at the first."""
    variants = {f"ours float32 batch {bs}": {"batch_size": bs} for bs in batch_sizes}
    small = batch_sizes[0]
    for label, opts in (("channels_last", {"channels_last": True}), ("fold_batchnorm", {"fold_batchnorm": True}),
                        ("channels_last+fold_batchnorm", {"channels_last": True, "fold_batchnorm": True}),
                        ("bfloat16", {"dtype": "bfloat16"}),
                        ("channels_last+bfloat16", {"channels_last": True, "dtype": "bfloat16"})):
        variants[f"ours {label} batch {small}"] = {"batch_size": small, **opts}
    return variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--cells", type=int, default=1000)
    timing_arguments(ap)
    ap.add_argument("--batch-sizes", default="16,64", help="our chunk sizes to try (float32)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-captum", action="store_true")
    ap.add_argument("--fewer-steps", default="",
                    help="e.g. 32,16,8: also measure how far fewer integration steps move the map of the "
                         "first image from its --reference-steps map (same noise), then stop")
    ap.add_argument("--reference-steps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for module, package in ([] if args.skip_captum else [("captum", "captum")]) + [("pytorch_grad_cam", "grad-cam")]:
        require_peer(module, package)  # before anything is timed, not after the IG table
    device = torch.device(args.device)
    model = ResNet50Geo(args.cells, args.size).to(device)
    photos = [synthetic_photo(seed=i, height=args.size + 40, width=args.size + 90) for i in range(args.images)]
    batch = model.prepare(photos)
    x = model.as_input(batch)
    n, steps, b = args.samples, args.steps, args.images
    print(f"machine: {describe_machine()}, device {device}")
    print(f"model: ResNet-50 random weights, {args.cells} cells, {args.size}x{args.size}; "
          f"{b} images, n_samples={n}, n_steps={steps}; {args.rounds} rounds in rotating order after a warm-up "
          f"of each row")

    if args.fewer_steps:
        fewer_steps_fidelity(model, x[:1], n, args.reference_steps,
                             [int(k) for k in args.fewer_steps.split(",")])
        return
    base = IGSmoothGrad(n_samples=n, n_steps=steps, seed=0)
    calls = {}
    if not args.skip_captum:
        noisy = IGSmoothGrad.noisy_inputs(x, n, 0.15, seed=0, keys=IGSmoothGrad.noise_keys(batch))
        with torch.no_grad():
            cells = model(x).argmax(1)
        calls[CAPTUM] = captum_default(model, x, noisy, IGSmoothGrad.baseline(model, x, "black"), cells, n, steps)
    variants = ig_variants([int(bs) for bs in args.batch_sizes.split(",")])
    for label, opts in variants.items():
        calls[label] = lambda opts=opts: base.explain(model, batch, **opts)
    run = time_rotating(calls, rounds=args.rounds)
    reference = CAPTUM if CAPTUM in calls else next(iter(variants))
    ref = run.outputs[reference]
    fidelity = {label: {"spearman": f"{spearman(maps, ref):.4f}", "top1000": f"{top_overlap(maps, ref):.3f}"}
                for label, maps in run.outputs.items()}
    print(f"\nIG-SmoothGrad^2 (same noisy copies for all; fidelity against {reference})")
    print(rotation_table(run, reference=CAPTUM if CAPTUM in calls else None, per=b, extra=fidelity))

    print("\nCAMs")
    combi = CombiCAM()
    blocks = combi.layers(model, combi.resolve())
    per_block = [GradCAM(layer=p) for p in blocks]
    loop = compare(f"Combi-CAM {len(blocks)} blocks (one pass) vs one Grad-CAM per block (the authors' loop)",
                   lambda: combi.explain(model, batch), lambda: [cam.explain(model, batch) for cam in per_block],
                   rounds=args.rounds, note="the loop is the authors' method, run with geoxai's Grad-CAM")
    print(markdown_table([gradcam_comparison(model, batch, args.rounds),
                          combicam_comparison(model, batch, args.rounds), loop]))


if __name__ == "__main__":
    main()
