"""A small torchvision ResNet-18 wrapped as a GeoModel, for the ResNet-specific checks."""
from __future__ import annotations

import pytest
import torch
import torchvision

from geoxai.interfaces import GeoModel
from geoxai.testing import tiny_partitionings
from geoxai.views import ViewConfig


class ResNetGeo(GeoModel):
    name = "resnet18-test"
    view_config = ViewConfig(input_size=64, resize_size=73)
    cam_layers = {"layer3": "net.layer3", "layer4": "net.layer4"}
    default_cam_layer = "layer4"

    def __init__(self, seed: int = 0):
        super().__init__()
        self.partitionings = tiny_partitionings()
        torch.manual_seed(seed)
        self.net = torchvision.models.resnet18(num_classes=len(self.finest))
        for m in self.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
        self.eval()

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def resnet_model() -> ResNetGeo:
    return ResNetGeo(seed=0)


@pytest.fixture
def resnet_batch(resnet_model, photos):
    return resnet_model.prepare(photos[:2], ids=["a", "b"])


@pytest.fixture
def hook_counts():
    return _hook_counts


def _hook_counts(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               + len(getattr(m, "_forward_hooks_with_kwargs", {})) for m in model.modules())
