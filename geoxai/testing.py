"""Small random-weight models for tests, demos and plugin authors: no download, CPU-fast.

``tiny`` is a GeoModel with two partitionings (3 regions -> 8 cities) and in-place ReLUs and
BatchNorm like a torchvision ResNet; ``tiny`` the segmenter is a random per-pixel classifier over
the first ADE20k concepts. Both are seeded, so equal options give equal weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .interfaces import GeoModel, Segmenter
from .options import PositiveInt
from .types import ImageBatch, Partitioning
from .views import ViewConfig

TINY_INPUT_SIZE = 64

# (key, label, lat, lon, region)
TINY_CITIES = [
    ("ES-BCN", "Barcelona, Catalonia, Spain", 41.3874, 2.1686, "EU"),
    ("FR-PAR", "Paris, Île-de-France, France", 48.8566, 2.3522, "EU"),
    ("DE-HAN", "Hanover, Lower Saxony, Germany", 52.3759, 9.7320, "EU"),
    ("US-NYC", "New York, New York, United States", 40.7128, -74.0060, "AM"),
    ("BR-RIO", "Rio de Janeiro, Brazil", -22.9068, -43.1729, "AM"),
    ("JP-TYO", "Tokyo, Japan", 35.6762, 139.6503, "AS"),
    ("IN-DEL", "Delhi, India", 28.7041, 77.1025, "AS"),
    ("AU-SYD", "Sydney, New South Wales, Australia", -33.8688, 151.2093, "AS"),
]
TINY_REGIONS = [("EU", "Europe", 47.5, 4.7), ("AM", "Americas", 9.0, -58.6), ("AS", "Asia-Pacific", 10.2, 122.7)]


def tiny_partitionings() -> list[Partitioning]:
    region_index = {key: i for i, (key, *_rest) in enumerate(TINY_REGIONS)}
    coarse = Partitioning(
        "coarse", keys=[r[0] for r in TINY_REGIONS], labels=[r[1] for r in TINY_REGIONS],
        lat=np.array([r[2] for r in TINY_REGIONS]), lon=np.array([r[3] for r in TINY_REGIONS]),
        parent=np.full(len(TINY_REGIONS), -1),
    )
    fine = Partitioning(
        "fine", keys=[c[0] for c in TINY_CITIES], labels=[c[1] for c in TINY_CITIES],
        lat=np.array([c[2] for c in TINY_CITIES]), lon=np.array([c[3] for c in TINY_CITIES]),
        parent=np.array([region_index[c[4]] for c in TINY_CITIES]),
    )
    return [coarse, fine]


class TinyGeoModel(GeoModel):
    """A 3-stage CNN with one head per partitioning; ``forward`` scores the finest cells.

    ``hierarchical=True`` scores each fine cell by log p(fine) + log p(parent), the f* rule;
    ``test_time_crops="five"`` predicts raw images from five crops (``predict(views="test-time")``).
    """

    name = "tiny"
    cam_layers = {"stage1": "features.0", "stage2": "features.1", "stage3": "features.2"}
    default_cam_layer = "stage3"

    view_config = ViewConfig.for_crop(TINY_INPUT_SIZE)

    def __init__(self, seed: int = 0, input_size: PositiveInt = TINY_INPUT_SIZE, width: PositiveInt = 8,
                 hierarchical: bool = False,
                 inplace: bool = True, test_time_crops: str = "center",
                 weights: str | None = None) -> None:
        super().__init__()
        self.view_config = self.view_config_for(input_size=input_size, test_time_crops=test_time_crops)
        self.hierarchical = bool(hierarchical)
        self.partitionings = tiny_partitionings()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            def stage(cin, cout, stride):
                return nn.Sequential(
                    nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=inplace),
                    nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=inplace),
                )
            self.features = nn.Sequential(stage(3, width, 2), stage(width, 2 * width, 2),
                                          stage(2 * width, 4 * width, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.heads = nn.ModuleList(nn.Linear(4 * width, len(p)) for p in self.partitionings)
            for m in self.modules():  # non-trivial BatchNorm statistics, as a trained net has
                if isinstance(m, nn.BatchNorm2d):
                    assert m.running_mean is not None and m.running_var is not None  # track_running_stats
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.data.uniform_(0.5, 1.5)
                    m.bias.data.uniform_(-0.2, 0.2)
        finally:
            torch.random.set_rng_state(generator_state)
        self.fine_parent: torch.Tensor
        self.register_buffer("fine_parent", torch.as_tensor(self.partitionings[1].parent), persistent=False)
        if weights is not None:  # a state dict file (safetensors or a safe pickle), or hf://...
            from .weights import load_state_dict, local_weights

            self.load_state_dict(load_state_dict(local_weights(weights)))
        self.random_weights = weights is None  # announced by the CLI, marked on figures and reports
        self.eval()

    @classmethod
    def random_weights_for(cls, weights: str | None = None, **_: object) -> bool:
        return weights is None

    @classmethod
    def view_config_for(cls, input_size: int = TINY_INPUT_SIZE, test_time_crops: str = "center",
                        **_: object) -> ViewConfig:
        """``test_time_crops="five"`` gives the test model GeoEstimation's five test-time crops."""
        return ViewConfig.for_crop(input_size, test_time_crops=test_time_crops)

    def partition_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.pool(self.features(x)).flatten(1)
        return [head(z) for head in self.heads]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse, fine = self.partition_logits(x)
        if not self.hierarchical:
            return fine
        return torch.log_softmax(fine, 1) + torch.log_softmax(coarse, 1)[:, self.fine_parent]


class TinySegmenter(Segmenter):
    """A seeded random 1x1-conv pixel classifier: cheap, deterministic, colour-dependent masks."""

    name = "tiny"
    random_weights = True  # announced by the CLI, marked on figures and reports

    def __init__(self, seed: int = 0, num_concepts: PositiveInt = 8, concepts: list[str] | None = None) -> None:
        if concepts is None:
            from .concepts import ade20k_concepts

            concepts = ade20k_concepts()[:num_concepts]
        self.concepts = list(concepts)
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(len(self.concepts), 3, generator=g)
        self.bias = torch.randn(len(self.concepts), generator=g) * 0.1

    @torch.inference_mode()
    def segment(self, images: ImageBatch | torch.Tensor) -> torch.Tensor:
        pixels = images.pixels if isinstance(images, ImageBatch) else images
        x = pixels.to(self.device).float() / 127.5 - 1.0
        logits = torch.einsum("kc,bchw->bkhw", self.weight, x) + self.bias[None, :, None, None]
        return logits.argmax(1).cpu()


def synthetic_photo(seed: int = 0, height: int = 96, width: int = 128) -> np.ndarray:
    """A deterministic RGB uint8 'photo': sky gradient, ground, a few coloured blocks."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    horizon = int(height * rng.uniform(0.35, 0.6))
    img[:horizon] = np.linspace([90, 150, 230], [180, 210, 250], horizon).astype(np.uint8)[:, None, :]
    img[horizon:] = rng.integers(40, 140, size=3, dtype=np.uint8)
    for _ in range(3):
        h, w = rng.integers(height // 8, height // 2), rng.integers(width // 8, width // 3)
        y, x = rng.integers(0, height - h), rng.integers(0, width - w)
        img[y:y + h, x:x + w] = rng.integers(0, 255, size=3, dtype=np.uint8)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)
