"""The random-weight networks several benchmark scripts share: the stand-in for an s2/SemP ResNet-50
(torchvision's ResNet-50 with random weights and a head over ``cells`` cells, so the compute of the
real backbone at 224 px is timed without its weights) and a timm ViT-B/16. Timing is
``harness.py``'s; map similarity comes from ``geoxai.quality.similarity``, the measures the tests
use too."""
from __future__ import annotations

import numpy as np
import torch

from geoxai.interfaces import GeoModel
from geoxai.types import Partitioning
from geoxai.views import ViewConfig


def random_cells(cells: int, seed: int = 0) -> list[Partitioning]:
    rng = np.random.default_rng(seed)
    return [Partitioning("cells", keys=[f"c{i}" for i in range(cells)],
                         lat=rng.uniform(-60, 70, cells), lon=rng.uniform(-180, 180, cells))]


class ResNet50Geo(GeoModel):
    name = "resnet50-random"
    cam_layers = {"layer4": "net.layer4"}
    default_cam_layer = "layer4"

    def __init__(self, cells: int = 1000, size: int = 224, seed: int = 0,
                 partitionings: list[Partitioning] | None = None) -> None:
        super().__init__()
        import torchvision

        self.view_config = ViewConfig.for_crop(size)
        self.partitionings = partitionings if partitionings is not None else random_cells(cells, seed)
        torch.manual_seed(seed)
        self.net = torchvision.models.resnet50(weights=None, num_classes=len(self.partitionings[-1]))
        self.eval()

    def forward(self, x):
        return self.net(x)


class ViTB16Geo(GeoModel):
    """timm's ``vit_base_patch16_224`` (ViT-B/16, 86M parameters) with random weights over ``cells`` cells."""

    name = "vit-b16-random"
    view_config = ViewConfig(input_size=224)

    def __init__(self, cells: int = 1000, seed: int = 0) -> None:
        super().__init__()
        import timm

        self.partitionings = random_cells(cells, seed)
        torch.manual_seed(seed)
        self.net = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=cells)
        self.eval()

    def forward(self, x):
        return self.net(x)
