"""Hand-made GeoModels whose scores are known in closed form."""
from __future__ import annotations

import torch
from torch import nn

from geoxai.interfaces import GeoModel
from geoxai.testing import tiny_partitionings


class LinearSumModel(GeoModel):
    """Cell 0 scores ``weight * sum(channel 0 over the masked region)``; cell 3 (New York) a
    constant ``rival``; every other cell -inf-ish. Parameters: one scale per stage."""

    name = "linear-sum"
    cam_layers = {"body": "body"}

    def __init__(self, region: torch.Tensor, rival: float = 0.0) -> None:
        super().__init__()
        self.partitionings = tiny_partitionings()
        self.register_buffer("region", region.float())
        self.body = nn.Linear(1, 1, bias=False)
        self.out = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.body.weight.fill_(1.0)
            self.out.weight.fill_(1.0)
        self.rival = rival
        self.view_config = self.view_config.replace(input_size=region.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x[:, 0] * self.region).flatten(1).sum(1, keepdim=True)
        s = self.out(self.body(s))[:, 0]
        scores = torch.full((x.shape[0], 8), -50.0, dtype=x.dtype, device=x.device)
        scores[:, 0] = s
        scores[:, 3] = self.rival
        return scores


def quadrant(size: int) -> torch.Tensor:
    region = torch.zeros(size, size)
    region[: size // 2, : size // 2] = 1.0
    return region
