"""ViT benchmark: geoxai's Grad-CAM and gradient-attention vs pytorch-grad-cam on the same ViT.

    PYTHONPATH=. python benchmarks/bench_vit.py --images 2 --rounds 3 --threads 1

Model: timm ``vit_base_patch16_224`` (ViT-B/16, 86M parameters) with random weights wrapped as a
GeoModel with ``--cells`` cells. Peer: ``pytorch_grad_cam.GradCAM`` on the last block's ``norm1``
with the usual ViT ``reshape_transform`` (drop the class token, tokens -> 14x14 grid), the layer
geoxai taps for block 11. Every side explains the predicted cell. Both comparisons run through
``harness.compare`` (the Grad-CAM one is compare.py's ``vit-gradcam`` case): a warm-up of each
side, then ``--rounds`` rounds in rotating order; medians of CPU and wall time, ratios > 1 mean
geoxai is faster. Grad-CAM maps are also compared (after both normalisations) so the timing
compares the same computation.
"""
from __future__ import annotations

import argparse

import torch
from _common import ViTB16Geo  # the scripts' folder is on sys.path when run as a script
from compare import vit_comparison
from harness import describe_machine, markdown_table, timing_arguments

from geoxai.explainers.gradient_attention import GradientAttention
from geoxai.testing import synthetic_photo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--cells", type=int, default=1000)
    timing_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {describe_machine()}")
    print(f"ViT-B/16 random, {args.images} image(s) 224x224, {args.cells} cells, {args.rounds} rounds")
    model = ViTB16Geo(args.cells)
    batch = model.prepare([synthetic_photo(seed=i, height=240, width=320) for i in range(args.images)])
    results = [vit_comparison(model, batch, args.rounds),
               vit_comparison(model, batch, args.rounds, ours=GradientAttention(),
                              name="ViT-B/16 gradient-attention (all 12 blocks) vs pytorch-grad-cam Grad-CAM")]
    print(markdown_table(results))


if __name__ == "__main__":
    main()
