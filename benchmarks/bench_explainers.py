"""Explainer benchmark: our engines vs captum / pytorch-grad-cam on the same model and images.

    PYTHONPATH=. python benchmarks/bench_explainers.py --images 2 --steps 20 --samples 5 --threads 2

Model: torchvision ResNet-50 with random weights wrapped as a GeoModel with ``--cells`` cells, at
``--size`` pixels. IG-SmoothGrad² is compared with captum's ``NoiseTunnel(IntegratedGradients)``
(``smoothgrad_sq``, captum defaults otherwise: all noisy copies x steps in one batch) given the
SAME noisy copies, so map differences come from numerics only. Fidelity of each variant is
measured against the float32 captum map: Spearman rank correlation and the overlap of the
top-1000 pixels.
"""
from __future__ import annotations

import argparse
import platform

import torch
from _common import ResNet50Geo, timed  # the scripts' folder is on sys.path when run as a script

from geoxai.explainers.combicam import CombiCAM
from geoxai.explainers.gradcam import GradCAM
from geoxai.explainers.ig_smoothgrad import IGSmoothGrad
from geoxai.quality import similarity
from geoxai.testing import synthetic_photo


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--batch-sizes", default="16,64", help="our chunk sizes to try (float32)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-captum", action="store_true")
    ap.add_argument("--repeats", type=int, default=1, help="time every IG variant this often, keep the best")
    ap.add_argument("--fewer-steps", default="",
                    help="e.g. 32,16,8: also measure how far fewer integration steps move the map of the "
                         "first image from its --reference-steps map (same noise), then stop")
    ap.add_argument("--reference-steps", type=int, default=50)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = ResNet50Geo(args.cells, args.size).to(device)
    photos = [synthetic_photo(seed=i, height=args.size + 40, width=args.size + 90) for i in range(args.images)]
    batch = model.prepare(photos)
    x = model.as_input(batch)
    n, steps, b = args.samples, args.steps, args.images
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {device}")
    print(f"model: ResNet-50 random weights, {args.cells} cells, {args.size}x{args.size}; "
          f"{b} images, n_samples={n}, n_steps={steps}")

    if args.fewer_steps:
        fewer_steps_fidelity(model, x[:1], n, args.reference_steps,
                             [int(k) for k in args.fewer_steps.split(",")])
        return
    base = IGSmoothGrad(n_samples=n, n_steps=steps, seed=0)
    noisy = IGSmoothGrad.noisy_inputs(x, n, 0.15, seed=0, keys=IGSmoothGrad.noise_keys(batch))
    black = IGSmoothGrad.baseline(model, x, "black")
    with torch.no_grad():
        cells = model(x).argmax(1)

    # warm-up: first calls pay for kernel selection and allocation
    IGSmoothGrad(n_samples=1, n_steps=2, batch_size=2).explain(model, batch)

    results = {}
    if not args.skip_captum:
        from captum.attr import IntegratedGradients, NoiseTunnel

        original = NoiseTunnel._add_noise_to_input
        try:
            nt = NoiseTunnel(IntegratedGradients(model))

            def captum_maps():
                # one call per image: captum's defaults put all n_samples x n_steps inputs of a
                # call in ONE batch, and a whole batch of images would not fit in memory here
                maps = []
                for i in range(b):
                    noisy_i = noisy[i * n:(i + 1) * n]
                    NoiseTunnel._add_noise_to_input = staticmethod(
                        lambda inp, stdev, k, noisy_i=noisy_i: noisy_i.clone())
                    maps.append(nt.attribute(x[i:i + 1], nt_type="smoothgrad_sq", nt_samples=n, stdevs=0.15,
                                             n_steps=steps, baselines=black, target=cells[i:i + 1]).amax(1))
                return torch.cat(maps).cpu()

            t, ref = timed(captum_maps, repeats=args.repeats)
        finally:
            NoiseTunnel._add_noise_to_input = original
        model.zero_grad(set_to_none=True)
        results["captum NoiseTunnel(IG) default"] = (t, ref)
    else:
        ref = None

    variants = [(f"ours float32 batch {bs}", {"batch_size": int(bs)}) for bs in args.batch_sizes.split(",")]
    small = int(args.batch_sizes.split(",")[0])
    variants += [
        (f"ours channels_last batch {small}", {"batch_size": small, "channels_last": True}),
        (f"ours fold_batchnorm batch {small}", {"batch_size": small, "fold_batchnorm": True}),
        (f"ours channels_last+fold_batchnorm batch {small}", {"batch_size": small, "channels_last": True,
                                                              "fold_batchnorm": True}),
        (f"ours bfloat16 batch {small}", {"batch_size": small, "dtype": "bfloat16"}),
        (f"ours channels_last+bfloat16 batch {small}", {"batch_size": small, "channels_last": True,
                                                        "dtype": "bfloat16"}),
    ]
    for label, opts in variants:
        results[label] = timed(lambda opts=opts: base.explain(model, batch, **opts), repeats=args.repeats)
    if ref is None:
        ref = results[variants[0][0]][1]

    print("\nIG-SmoothGrad^2 (same noisy copies for all)")
    print(f"{'variant':48s} {'s':>8s} {'img/s':>8s} {'x captum':>9s} {'spearman':>9s} {'top1000':>8s}")
    t_ref = results.get("captum NoiseTunnel(IG) default", (None,))[0]
    for label, (t, maps) in results.items():
        ratio = f"{t_ref / t:9.2f}" if t_ref else f"{'-':>9s}"
        print(f"{label:48s} {t:8.2f} {b / t:8.3f} {ratio} {spearman(maps, ref):9.4f} {top_overlap(maps, ref):8.3f}")

    print("\nCAMs")
    from pytorch_grad_cam import GradCAM as ReferenceGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = [ClassifierOutputTarget(int(c)) for c in cells]
    with ReferenceGradCAM(model, [model.layer("layer4")]) as cam:
        t_pgc, pgc = timed(lambda: torch.from_numpy(cam(x, targets)), repeats=3)
    model.zero_grad(set_to_none=True)
    t_ours, ours = timed(lambda: GradCAM(normalize=True).explain(model, batch, "predicted"), repeats=3)
    print(f"Grad-CAM layer4: pytorch-grad-cam {b / t_pgc:.2f} img/s, ours {b / t_ours:.2f} img/s "
          f"(x{t_pgc / t_ours:.2f}); max |diff| {float((ours - pgc).abs().max()):.2e}")
    blocks = CombiCAM().layers(model, CombiCAM().resolve())
    with ReferenceGradCAM(model, [model.get_submodule(p) for p in blocks]) as cam:
        t_pgc_all, _ = timed(lambda: cam(x, targets), repeats=2)
    model.zero_grad(set_to_none=True)
    t_combi, _ = timed(lambda: CombiCAM().explain(model, batch), repeats=2)
    t_loop, _ = timed(lambda: [GradCAM(layer=p).explain(model, batch) for p in blocks], repeats=1)
    print(f"Combi-CAM over all {len(blocks)} blocks: ours (one pass) {b / t_combi:.2f} img/s; "
          f"one Grad-CAM per block (authors' loop) {b / t_loop:.2f} img/s (x{t_loop / t_combi:.1f}); "
          f"pytorch-grad-cam with {len(blocks)} target layers (its mean-of-normalised rule) {b / t_pgc_all:.2f} img/s")


if __name__ == "__main__":
    main()
