"""Images/second of the built-in segmenters on CPU at their default test scale (random weights).

    PYTHONPATH=. python benchmarks/bench_segmenter.py [--images 4] [--height 224 --width 224] [--threads 1]

The default input is the explained view of the geolocation models (224 x 224); at the default
scale 300 it is resized to 320 x 320 for the network. The segmenters are timed by the one harness
(``harness.time_rotating``): a warm-up of each, then ``--rounds`` rounds in rotating order; medians
of CPU and wall seconds per image (CPU seconds do not depend on how busy the machine is).
"""
from __future__ import annotations

import argparse

import torch
from harness import describe_machine, rotation_table, time_rotating, timing_arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--height", type=int, default=224)
    parser.add_argument("--width", type=int, default=224)
    timing_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from geoxai.plugins import load_segmenter

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.height, args.width), dtype=torch.uint8, generator=g)
    print(f"machine: {describe_machine()}")
    print(f"{args.images} images {args.height}x{args.width}, default scale 300 (network input 320 px short side), "
          f"{args.rounds} rounds in rotating order after a warm-up of each")
    segmenters = {"ade20k-hrnet (HRNetV2-W48 + C1)": load_segmenter("ade20k-hrnet", pretrained=False, device="cpu"),
                  "smp (FPN + mobilenet_v2, 150 cls)": load_segmenter("smp", device="cpu")}
    run = time_rotating({label: lambda s=segmenter: s.segment(images) for label, segmenter in segmenters.items()},
                        rounds=args.rounds)
    params = {label: {"parameters": f"{sum(p.numel() for p in s.network.parameters()) / 1e6:.1f}M"}
              for label, s in segmenters.items()}
    print(rotation_table(run, per=args.images, extra=params))


if __name__ == "__main__":
    main()
