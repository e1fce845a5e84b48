"""The shared multi-partition base: f / f*, crop aggregation, strict checkpoint loading, backbones."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from geoxai.io.checkpoint import load_checkpoint
from geoxai.models.multipartition import MultiPartitionGeoModel
from geoxai.testing import synthetic_photo, tiny_partitionings


def _randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.fixture(scope="module")
def resnet18_model():
    torch.manual_seed(1)
    model = MultiPartitionGeoModel(tiny_partitionings(), backbone="resnet18", hierarchical=True, input_size=64,
                                   resize_size=73)
    _randomise_bn(model)
    return model.eval()


def test_hierarchical_scores_are_log_product_of_level_softmax(resnet18_model):
    model = resnet18_model
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        coarse, fine = model.partition_logits(x)
        parent = torch.as_tensor(model.partitionings[1].parent)
        expected = torch.softmax(fine, 1) * torch.softmax(coarse, 1)[:, parent]
        got = torch.softmax(model(x), 1)
    torch.testing.assert_close(got, expected / expected.sum(1, keepdim=True), rtol=1e-5, atol=1e-7)
    model.hierarchical = False
    try:
        with torch.no_grad():
            torch.testing.assert_close(model(x), fine)
    finally:
        model.hierarchical = True


def test_predict_views_takes_max_over_crops_then_hierarchical_product(resnet18_model):
    model = resnet18_model
    views = model.test_time_views(synthetic_photo(3, 90, 130))
    assert views.shape == (5, 3, 64, 64) and views.dtype == torch.uint8
    x = model.as_input(views)
    with torch.no_grad():
        coarse, fine = (torch.softmax(z, 1) for z in model.partition_logits(x))
        got = model.predict_views(x)
    parent = model.partitionings[1].parent
    product = np.array([fine[:, c].max().item() * coarse[:, parent[c]].max().item() for c in range(8)])
    np.testing.assert_allclose(got.numpy(), product / product.sum(), rtol=1e-5)
    model.crop_aggregation = "mean"
    try:
        with torch.no_grad():
            mean = model.predict_views(x)
    finally:
        model.crop_aggregation = "max"
    product = np.array([fine[:, c].mean().item() * coarse[:, parent[c]].mean().item() for c in range(8)])
    np.testing.assert_allclose(mean.numpy(), product / product.sum(), rtol=1e-5)


def test_five_crops_are_torchvision_fivecrop_after_resize(resnet18_model):
    import torchvision.transforms.functional as TF
    from PIL import Image

    image = synthetic_photo(5, 100, 150)
    views = resnet18_model.test_time_views(image)
    resized = Image.fromarray(image).resize((109, 73), Image.BILINEAR)  # short side 73, torchvision int()
    expected = [torch.from_numpy(np.array(c)).permute(2, 0, 1) for c in TF.five_crop(resized, [64, 64])]
    for got, want in zip(views, expected):
        assert torch.equal(got, want)
    # the explained view stays the single centre crop
    assert torch.equal(resnet18_model.view(image), views[4])


def test_strict_loading_reports_wrong_keys_in_one_line(resnet18_model, tmp_path):
    state = resnet18_model.state_dict()
    state["classifier.7.weight"] = state.pop("classifier.1.weight")
    path = tmp_path / "bad.ckpt"
    torch.save({"state_dict": state}, path)
    fresh = MultiPartitionGeoModel(tiny_partitionings(), backbone="resnet18", input_size=64)
    with pytest.raises(ValueError) as info:
        fresh.load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "1 missing keys: classifier.1.weight" in message and "1 unexpected keys: classifier.7.weight" in message


def test_lightning_checkpoint_with_pickled_hparams_loads(resnet18_model, tmp_path):
    path = tmp_path / "epoch=1.ckpt"
    torch.save({"epoch": 1, "state_dict": resnet18_model.state_dict(),
                "hyper_parameters": argparse.Namespace(arch="resnet18", lr=0.01)}, path)
    raw = load_checkpoint(path)
    assert raw["epoch"] == 1
    fresh = MultiPartitionGeoModel(tiny_partitionings(), backbone="resnet18", hierarchical=True, input_size=64)
    fresh.load_checkpoint(path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), resnet18_model(x))


def test_cam_layers_and_hierarchy_validation():
    model = MultiPartitionGeoModel(tiny_partitionings(), backbone="resnet18", input_size=64)
    assert model.layer() is model.model[7] and model.layer("layer1") is model.model[4]
    parts = tiny_partitionings()
    parts[1].parent = None
    MultiPartitionGeoModel(parts, backbone="resnet18")  # flat f needs no hierarchy
    with pytest.raises(ValueError, match="needs a parent"):
        MultiPartitionGeoModel(parts, backbone="resnet18", hierarchical=True)


def test_efficientnet_b4_matches_timm_tf_port():
    """Our efficientnet_pytorch-layout B4 computes what timm's TF-ported B4 computes."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = MultiPartitionGeoModel(tiny_partitionings(), backbone="efficientnet-b4", input_size=64,
                                   init_weights=False)
    ours = model.model.state_dict()
    assert "_blocks.0._depthwise_conv.weight" in ours and "_blocks.2._expand_conv.weight" in ours
    assert "_blocks.1._expand_conv.weight" not in ours
    assert "_conv_head.weight" in ours and not any(k.startswith("_fc") for k in ours)
    ref = timm.create_model("tf_efficientnet_b4", pretrained=False, num_classes=0).eval()
    _randomise_bn(ref, seed=3)
    ref_state = ref.state_dict()
    assert len(ref_state) == len(ours)
    mapped = {}
    for k, (rk, rv) in zip(ours, ref_state.items()):  # same parameter order, checked by shape
        assert ours[k].shape == rv.shape, (k, rk)
        mapped[k] = rv
    model.model.load_state_dict(mapped)
    # odd size exercises the asymmetric 'same' padding; float64 because the two implementations
    # pad differently, so their float32 convolutions may run different kernels
    x = torch.randn(1, 3, 35, 34, dtype=torch.float64)
    model.double(), ref.double()
    with torch.no_grad():
        torch.testing.assert_close(model.features(x), ref(x), rtol=1e-9, atol=1e-10)
    assert model.layer() is model.model._head_act and model.layer("stage7") is model.model._blocks[31]
