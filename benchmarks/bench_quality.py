"""Deletion/insertion throughput: geoxai.quality against torchcam 0.5's DeletionInsertionMetric.

One run, the real network (ImageNet EfficientNet-Lite0 via ``geoxai.realnet``), the real sample
photos, the SAME maps (geoxai's Grad-CAM, handed to torchcam through a stand-in CAM extractor),
the same steps, fill (geoxai's blur, given to torchcam as its baseline callable), target (the
clean top class) and score (softmax probability). Variants: torchcam as documented; torchcam with
the model wrapped to take channels_last input (what a torchcam user can do by hand); geoxai with
contiguous copies; geoxai's default (``memory_format="auto"``: channels_last copies for a conv net
on the CPU). All four are timed by the one harness (``harness.time_rotating``): a warm-up of each,
then ``--rounds`` rounds in rotating order; medians of CPU and wall time against torchcam's.
Checks that every variant's per-image curves agree with torchcam's to 1e-5 (torchcam's are
captured from its own ``_compute_curves``). compare.py's ``deletion-torchcam`` case runs the
same geoxai-default-vs-torchcam pair with these functions.

    PYTHONPATH=. python benchmarks/bench_quality.py --photos 5 --steps 20 --threads 1 --rounds 3
"""
from __future__ import annotations

import argparse
import contextlib

import torch
from harness import describe_machine, require_peer, rotation_table, time_rotating, timing_arguments

#: sigma of geoxai's blur fill, given to torchcam as its baseline too
SIGMA = 5.0


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


class ChannelsLast(torch.nn.Module):
    """The model fed channels_last input: a torchcam user's hand-made speed-up."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z):
        return self.net(z.contiguous(memory_format=torch.channels_last))


def gradcam_maps(model, batch) -> torch.Tensor:
    """geoxai's Grad-CAM maps of the clean top class: the maps both tools are given."""
    from geoxai.plugins import load_explainer
    from geoxai.quality._targets import fix_target

    with torch.inference_mode():
        clean = model(model.as_input(batch))
    return fix_target(model, clean, None).explain(load_explainer("gradcam"), model, batch)


def geoxai_curves(model, maps, x, steps: int, batch_size: int, layout: str = "auto"):
    """A callable: geoxai's deletion and insertion curves of ``maps`` as (fractions, deletion, insertion)."""
    import geoxai.quality as q

    def run():
        result = q.deletion_insertion(model, maps, x, steps=steps, fill="blur", blur_sigma=SIGMA,
                                      batch_size=batch_size, memory_format=layout)
        return tuple(torch.as_tensor(v, dtype=torch.float64) for v in
                     (result["deletion"].fractions, result["deletion"].score, result["insertion"].score))
    return run


def torchcam_curves(net, maps, x, steps: int, batch_size: int):
    """A callable: torchcam's documented path (``metric.update``) on ``net``, returning the curves it
    computes, read where it computes them, as (fractions, deletion, insertion)."""
    require_peer("torchcam", "torchcam")
    from torchcam.metrics import DeletionInsertionMetric

    from geoxai.quality.fills import gaussian_blur

    def run():
        metric = DeletionInsertionMetric(GivenMaps(net, maps), lambda z: torch.softmax(z, dim=-1), steps=steps,
                                         baseline=lambda z: gaussian_blur(z, SIGMA), batch_size=batch_size)
        captured = {}
        original = metric._compute_curves

        def keep(*a, **k):
            captured["curves"] = original(*a, **k)
            return captured["curves"]

        metric._compute_curves = keep
        metric.update(x)
        return tuple(c.double() for c in captured["curves"])
    return run


def curves_agree(ours, peer) -> dict[str, float]:
    """The largest difference between two (fractions, deletion, insertion) triples' curves (the
    fractions, where pixels are removed, must match exactly)."""
    if float((ours[0] - peer[0]).abs().max()) > 1e-7:
        raise SystemExit("deletion/insertion: the two tools removed pixels at different fractions")
    return {"max curve diff": max(float((a.reshape(b.shape) - b).abs().max()) for a, b in zip(ours[1:], peer[1:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    timing_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    require_peer("torchcam", "torchcam")
    from geoxai.realnet import ImageNetLite0, real_photos

    print(f"machine: {describe_machine()}")
    model = ImageNetLite0()
    photos = list(real_photos().items())[: args.photos]
    batch = model.prepare([p for _, p in photos], ids=[n for n, _ in photos])
    x = model.as_input(batch)
    maps = gradcam_maps(model, batch)
    steps, size = args.steps, args.batch_size
    run = time_rotating({"torchcam": torchcam_curves(model, maps, x, steps, size),
                         "torchcam + channels_last wrapper": torchcam_curves(ChannelsLast(model).eval(), maps, x,
                                                                             steps, size),
                         "geoxai memory_format=contiguous": geoxai_curves(model, maps, x, steps, size, "contiguous"),
                         "geoxai (default: auto)": geoxai_curves(model, maps, x, steps, size, "auto")},
                        rounds=args.rounds)
    errors = {label: curves_agree(out, run.outputs["torchcam"])["max curve diff"] for label, out in run.outputs.items()}
    print(f"{len(photos)} photos, {args.steps} steps, blur sigma {SIGMA}, batch {args.batch_size}, "
          f"{args.rounds} rounds in rotating order after a warm-up of each")
    print(rotation_table(run, reference="torchcam", per=len(photos),
                         extra={label: {"max abs curve - torchcam": f"{e:.2e}"} for label, e in errors.items()}))
    if max(errors.values()) > 1e-5:
        raise SystemExit(f"deletion/insertion: curves disagree with torchcam's by up to {max(errors.values()):.2e}")


if __name__ == "__main__":
    main()
