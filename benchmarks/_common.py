"""What several benchmark scripts share: the best-of-N timer and the stand-in for an s2/SemP
ResNet-50 (torchvision's ResNet-50 with random weights and a head over ``cells`` cells, so the
compute of the real backbone at 224 px is timed without its weights). Map similarity comes from
``geoxai.quality.similarity``, the measures the tests use too."""
from __future__ import annotations

import time

import numpy as np
import torch

from geoxai.interfaces import GeoModel
from geoxai.types import Partitioning
from geoxai.views import ViewConfig


def timed(fn, repeats: int = 1):
    """(best seconds over ``repeats`` calls, the last result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


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
