"""ViT benchmark: geoxai's Grad-CAM and gradient-attention vs pytorch-grad-cam on the same ViT.

    PYTHONPATH=. python benchmarks/bench_vit.py --images 2 --repeats 3 --threads 2

Model: timm ``vit_base_patch16_224`` (ViT-B/16, 86M parameters) with random weights wrapped as a
GeoModel with ``--cells`` cells. Peer: ``pytorch_grad_cam.GradCAM`` on the last block's ``norm1``
with the usual ViT ``reshape_transform`` (drop the class token, tokens -> 14x14 grid), the layer
geoxai taps for block 11. Both explain the same cell. Times are the best of ``--repeats``; ratios
> 1 mean geoxai is faster. Grad-CAM maps are also compared (max abs difference after both
normalisations) so the timing compares the same computation.
"""
from __future__ import annotations

import argparse
import copy
import platform

import numpy as np
import timm
import torch
from _common import timed  # the scripts' folder is on sys.path when run as a script

from geoxai.explainers.gradcam import GradCAM
from geoxai.explainers.gradient_attention import GradientAttention
from geoxai.interfaces import GeoModel
from geoxai.testing import synthetic_photo
from geoxai.types import Partitioning
from geoxai.views import ViewConfig


class ViTB16Geo(GeoModel):
    name = "vit-b16-random"
    view_config = ViewConfig(input_size=224)

    def __init__(self, cells: int, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.partitionings = [Partitioning("cells", keys=[f"c{i}" for i in range(cells)],
                                           lat=rng.uniform(-60, 70, cells), lon=rng.uniform(-180, 180, cells))]
        torch.manual_seed(seed)
        self.net = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=cells)
        self.eval()

    def forward(self, x):
        return self.net(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pytorch_grad_cam import GradCAM as PeerGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = ViTB16Geo(args.cells)
    batch = model.prepare([synthetic_photo(seed=i, height=240, width=320) for i in range(args.images)])
    x = model.as_input(batch)
    cell = 7
    peer_model = copy.deepcopy(model)  # pytorch-grad-cam writes .grad on the parameters

    def reshape(tokens):
        return tokens[:, 1:].reshape(tokens.shape[0], 14, 14, tokens.shape[2]).permute(0, 3, 1, 2)

    peer = PeerGradCAM(peer_model, [peer_model.net.blocks[-1].norm1], reshape_transform=reshape)
    targets = [ClassifierOutputTarget(cell)] * args.images
    ours_cam = GradCAM(layer=-1, normalize=True)
    ours_attn = GradientAttention()
    # warm-up (allocator, first-call overheads) for all three
    peer(x, targets), ours_cam.explain(model, x, f"cell:{cell}"), ours_attn.explain(model, x, f"cell:{cell}")
    t_peer, peer_map = timed(lambda: peer(x, targets), args.repeats)
    t_cam, cam_map = timed(lambda: ours_cam.explain(model, x, f"cell:{cell}"), args.repeats)
    t_attn, _ = timed(lambda: ours_attn.explain(model, x, f"cell:{cell}"), args.repeats)
    peer.__exit__(None, None, None)
    diff = float((cam_map - torch.from_numpy(peer_map)).abs().max())
    print(f"# ViT-B/16 random, {args.images} images 224x224, {args.cells} cells, torch {torch.__version__}, "
          f"{args.threads} threads, {platform.processor() or platform.machine()}")
    print(f"pytorch-grad-cam GradCAM (reshape_transform, blocks[-1].norm1)  {t_peer:7.3f} s")
    print(f"geoxai gradcam layer=-1 (same tap)                            {t_cam:7.3f} s  "
          f"ratio {t_peer / t_cam:5.2f}x  max|diff| {diff:.2e}")
    print(f"geoxai gradient-attention (all 12 blocks)                     {t_attn:7.3f} s  "
          f"ratio {t_peer / t_attn:5.2f}x")


if __name__ == "__main__":
    main()
