"""Deletion/insertion throughput: geoxai.quality against torchcam 0.5's DeletionInsertionMetric.

One run, the real network (ImageNet EfficientNet-Lite0 via ``geoxai.realnet``), the real sample
photos, the SAME maps (geoxai's Grad-CAM, handed to torchcam through a stand-in CAM extractor),
the same steps, fill (geoxai's blur, given to torchcam as its baseline callable), target (the
clean top class) and score (softmax probability). Checks that every variant's per-image curves
agree with torchcam's to 1e-5 (torchcam's are captured from its own ``_compute_curves``) and
prints the throughput ratios. Variants: torchcam as documented; torchcam with the model wrapped
to take channels_last input (what a torchcam user can do by hand); geoxai with contiguous copies;
geoxai's default (``memory_format="auto"``: channels_last copies for a conv net on the CPU).

    PYTHONPATH=. python benchmarks/bench_quality.py --photos 5 --steps 20 --threads 1
"""
from __future__ import annotations

import argparse
import contextlib
import platform
import time

import numpy as np
import torch


class GivenMaps:
    """Duck-typed torchcam CAM extractor that returns precomputed maps (so both tools rank the same)."""

    def __init__(self, model: torch.nn.Module, maps: torch.Tensor) -> None:
        self.model, self.maps = model, maps

    def __call__(self, class_idx=None, scores=None, normalized=True, **_):
        return [self.maps]

    def fuse_cams(self, cams):
        return cams[0]

    def _hooks_off(self):
        return contextlib.nullcontext()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from torchcam.metrics import DeletionInsertionMetric

    import geoxai.quality as q
    from geoxai.plugins import load_explainer
    from geoxai.quality._targets import fix_target
    from geoxai.quality.fills import gaussian_blur
    from geoxai.realnet import ImageNetLite0, real_photos

    model = ImageNetLite0()
    photos = list(real_photos().items())[: args.photos]
    batch = model.prepare([p for _, p in photos], ids=[n for n, _ in photos])
    x = model.as_input(batch)
    with torch.inference_mode():
        clean = model(x)
    maps = fix_target(model, clean, None).explain(load_explainer("gradcam"), model, batch)
    sigma = 5.0

    class ChannelsLast(torch.nn.Module):
        """The model fed channels_last input: a torchcam user's hand-made speed-up."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, z):
            return self.net(z.contiguous(memory_format=torch.channels_last))

    def ours(layout):
        return lambda: q.deletion_insertion(model, maps, x, steps=args.steps, fill="blur", blur_sigma=sigma,
                                            batch_size=args.batch_size, memory_format=layout)

    captured = {}

    def theirs(net, key):
        def run():
            metric = DeletionInsertionMetric(GivenMaps(net, maps), lambda z: torch.softmax(z, dim=-1),
                                             steps=args.steps, baseline=lambda z: gaussian_blur(z, sigma),
                                             batch_size=args.batch_size)
            original = metric._compute_curves

            def keep(*a, **k):
                captured[key] = original(*a, **k)
                return captured[key]

            metric._compute_curves = keep
            metric.update(x)
            return metric.summary()
        return run

    variants = {"torchcam": theirs(model, "torchcam"),
                "torchcam + channels_last wrapper": theirs(ChannelsLast(model).eval(), "torchcam-cl"),
                "geoxai memory_format=contiguous": ours("contiguous"),
                "geoxai (default: auto)": ours("auto")}
    times: dict[str, list[float]] = {name: [] for name in variants}
    results = {}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    fractions, deletion, insertion = captured["torchcam"]
    errors = {}
    for name, result in results.items():
        if name.startswith("torchcam"):
            _, d, i = captured["torchcam" if name == "torchcam" else "torchcam-cl"]
            errors[name] = max((d - deletion).abs().max().item(), (i - insertion).abs().max().item())
            continue
        np.testing.assert_allclose(result["deletion"].fractions, fractions.numpy(), atol=1e-7)
        errors[name] = max(np.abs(result["deletion"].score - deletion.double().numpy()).max(),
                           np.abs(result["insertion"].score - insertion.double().numpy()).max())
    n = len(photos)
    best = {k: min(v) for k, v in times.items()}
    print(f"{n} photos, {args.steps} steps, blur sigma {sigma}, batch {args.batch_size}, {args.threads} thread(s), "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'variant':34s} {'seconds':>8s} {'img/s':>7s} {'x torchcam':>10s} {'max |curve - torchcam|':>22s}")
    for name in variants:
        print(f"{name:34s} {best[name]:8.2f} {n / best[name]:7.3f} {best['torchcam'] / best[name]:10.2f} "
              f"{errors[name]:22.2e}")
    assert max(errors.values()) <= 1e-5, "curves disagree"

if __name__ == "__main__":
    main()
