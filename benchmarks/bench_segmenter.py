"""Images/second of the built-in segmenters on CPU at their default test scale (random weights).

    python benchmarks/bench_segmenter.py [--images 4] [--height 224 --width 224] [--threads N]

The default input is the explained view of the geolocation models (224 x 224); at the default
scale 300 it is resized to 320 x 320 for the network. Timings are wall-clock and noisy.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch


def bench(name: str, segmenter, images: torch.Tensor, repeats: int) -> None:
    segmenter.segment(images[:1])  # warm-up: allocator, oneDNN kernels
    start = time.perf_counter()
    for _ in range(repeats):
        segmenter.segment(images)
    seconds = time.perf_counter() - start
    rate = repeats * len(images) / seconds
    params = sum(p.numel() for p in segmenter.network.parameters()) / 1e6
    print(f"{name:<34} {params:6.1f}M params  {rate:6.2f} images/s  ({seconds / repeats / len(images):.2f} s/image)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--height", type=int, default=224)
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from geoxai.plugins import load_segmenter

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.height, args.width), dtype=torch.uint8, generator=g)
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, "
          f"{args.images} images {args.height}x{args.width}, default scale 300 (network input 320 px short side)")
    bench("ade20k-hrnet (HRNetV2-W48 + C1)", load_segmenter("ade20k-hrnet", pretrained=False, device="cpu"),
          images, args.repeats)
    bench("smp (FPN + mobilenet_v2, 150 cls)", load_segmenter("smp", device="cpu"), images, args.repeats)


if __name__ == "__main__":
    main()
