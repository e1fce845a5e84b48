"""What `geoxai quality` costs per image, in units comparable across machines.

The unit is one forward+backward pass of a batch of 8 images through the same network (issue 24):
every forward pass the run makes is counted in images (a forward hook on the network), every
backward pass through it too (a tensor hook on its output), and

    units = (images forwarded + images back-propagated) / (8 + 8)

so the count depends on the work, not on the CPU. The CPU seconds per image are printed beside it,
and in time units too: divided by the CPU seconds of one such batch-8 forward+backward pass timed
in the same run (the issue's measure, which also counts the work outside the network: fills,
sorting, the randomised copies of the sanity check). The network
is the real ImageNet EfficientNet-Lite0 (``imagenet-lite0``), the photos the real sample photos.

    PYTHONPATH=. python benchmarks/bench_quality_cost.py --photos 2
    PYTHONPATH=. python benchmarks/bench_quality_cost.py --photos 2 --explainer ig-smoothgrad:preset=paper
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

UNIT_IMAGES = 8


class PassCounter:
    """Counts the images each forward and backward pass of ``module`` carries."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.forward = self.backward = 0
        self.handle = module.register_forward_hook(self._forward)

    def _forward(self, module, inputs, output) -> None:
        rows = int(output.shape[0])
        self.forward += rows
        if output.requires_grad:
            output.register_hook(lambda grad, rows=rows: self._backward(rows))

    def _backward(self, rows: int) -> None:
        self.backward += rows

    @property
    def units(self) -> float:
        return (self.forward + self.backward) / (2 * UNIT_IMAGES)


def time_one_unit(model, repeats: int = 5) -> float:
    """Median CPU seconds of one forward+backward pass of a batch of 8 (input gradient only, as the
    explainers run it)."""
    import statistics

    x = torch.rand(UNIT_IMAGES, 3, 224, 224)
    model.requires_grad_(False)
    times = []
    for _ in range(repeats + 1):
        start = time.process_time()
        inputs = x.clone().requires_grad_(True)
        model(inputs).sum().backward()
        times.append(time.process_time() - start)
    model.requires_grad_(True)
    return statistics.median(times[1:])


def parse_explainer(text: str):
    from geoxai.quality.worker import ExplainerSpec

    name, _, rest = text.partition(":")
    options = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        options[key] = int(value) if value.isdigit() else value
    return ExplainerSpec(name, options)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=2)
    ap.add_argument("--explainer", action="append",
                    help="name[:key=value,...] (repeatable); default gradcam, lrp, ig-smoothgrad and "
                         "ig-smoothgrad:preset=paper")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from PIL import Image

    from geoxai.quality.run import run_quality
    from geoxai.quality.worker import QualityOptions
    from geoxai.realnet import ImageNetLite0, real_photos

    specs = [parse_explainer(e) for e in (args.explainer or ["gradcam", "lrp", "ig-smoothgrad",
                                                              "ig-smoothgrad:preset=paper"])]
    model = ImageNetLite0()
    counter = PassCounter(model.net)
    print(f"quality cost on imagenet-lite0, {args.photos} real photos, {torch.get_num_threads()} thread(s); "
          f"unit = one forward+backward of a batch of {UNIT_IMAGES}")
    unit_seconds = time_one_unit(model)
    print(f"one unit: {unit_seconds:.3f} CPU s")
    print(f"{'explainer':36s} {'units/image':>12s} {'CPU s/image':>12s} {'time units/image':>17s}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, photo in list(real_photos().items())[: args.photos]:
            path = Path(tmp) / f"{name}.jpg"
            Image.fromarray(photo).save(path, quality=95)
            paths.append(str(path))
        for spec in specs:
            counter.forward = counter.backward = 0
            cpu = time.process_time()
            run_quality("imagenet-lite0", [spec], Path(tmp) / f"q-{len(paths)}-{spec.folder}", images=paths,
                        options=QualityOptions(progress=False, workers=0), baselines=False, model=model)
            seconds = time.process_time() - cpu
            label = spec.name + (f" {spec.options}" if spec.options else "")
            print(f"{label:36s} {counter.units / len(paths):12.1f} {seconds / len(paths):12.1f} "
                  f"{seconds / len(paths) / unit_seconds:17.1f}", flush=True)
    counter.handle.remove()


if __name__ == "__main__":
    main()
