"""Deletion/insertion throughput: geoxai.quality against torchcam 0.5's DeletionInsertionMetric.

One run, the real network (ImageNet EfficientNet-Lite0 via ``geoxai.realnet``), the real sample
photos, the SAME maps (geoxai's Grad-CAM, handed to torchcam through a stand-in CAM extractor),
the same steps, fill (geoxai's blur, given to torchcam as its baseline callable), target (the
clean top class) and score (softmax probability). Checks that the per-image curves agree to 1e-5
(torchcam's curves are captured from its own ``_compute_curves``) and prints the throughput ratio.

    PYTHONPATH=. python benchmarks/bench_quality.py --photos 5 --steps 20 --threads 1
"""
from __future__ import annotations

import argparse
import contextlib
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

    def ours():
        return q.deletion_insertion(model, maps, x, steps=args.steps, fill="blur", blur_sigma=sigma,
                                    batch_size=args.batch_size)

    captured = {}

    def theirs():
        metric = DeletionInsertionMetric(GivenMaps(model, maps), lambda z: torch.softmax(z, dim=-1),
                                         steps=args.steps, baseline=lambda z: gaussian_blur(z, sigma),
                                         batch_size=args.batch_size)
        original = metric._compute_curves

        def keep(*a, **k):
            captured["curves"] = original(*a, **k)
            return captured["curves"]

        metric._compute_curves = keep
        metric.update(x)
        return metric.summary()

    times = {"geoxai": [], "torchcam": []}
    for _ in range(args.repeats):
        for name, fn in (("torchcam", theirs), ("geoxai", ours)):
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
            if name == "geoxai":
                mine = result
            else:
                summary = result
    fractions, deletion, insertion = captured["curves"]
    np.testing.assert_allclose(mine["deletion"].fractions, fractions.numpy(), atol=1e-7)
    d_err = np.abs(mine["deletion"].score - deletion.double().numpy()).max()
    i_err = np.abs(mine["insertion"].score - insertion.double().numpy()).max()
    auc_err = abs(mine["deletion"].auc().mean() - summary["deletion_auc"])
    n = len(photos)
    best = {k: min(v) for k, v in times.items()}
    print(f"{n} photos, {args.steps} steps, blur sigma {sigma}, batch {args.batch_size}, {args.threads} thread(s), "
          f"torch {torch.__version__}")
    print(f"max |curve difference|: deletion {d_err:.2e}, insertion {i_err:.2e}; mean deletion AUC diff {auc_err:.2e}")
    for name in ("torchcam", "geoxai"):
        print(f"{name:9s} {best[name]:8.2f} s  {n / best[name]:6.3f} img/s")
    print(f"geoxai / torchcam throughput: x{best['torchcam'] / best['geoxai']:.2f}")
    assert max(d_err, i_err) <= 1e-5, "curves disagree"


if __name__ == "__main__":
    main()
