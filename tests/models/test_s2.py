"""The s2 model: official checkpoint + partition files, release archives, f* against a hand computation."""
from __future__ import annotations

import argparse
import zipfile

import numpy as np
import pytest
import torch
import torchvision
import yaml

import geoxai
from geoxai.models.s2 import synthetic_s2_partitionings
from geoxai.partitions import write_s2_partitionings
from geoxai.testing import synthetic_photo

s2cell = pytest.importorskip("s2cell")
SIZES = (3, 6, 12)
TAUS = (5000, 2000, 1000)


class ReleaseLikeResNet(torch.nn.Module):
    """Built the way the GeoEstimation release builds its Lightning module (independently of geoxai)."""

    def __init__(self, sizes):
        super().__init__()
        net = torchvision.models.resnet50(weights=None)
        self.model = torch.nn.Sequential(*list(net.children())[:-2])
        self.model.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.model.flatten = torch.nn.Flatten(start_dim=1)
        self.classifier = torch.nn.ModuleList([torch.nn.Linear(2048, n) for n in sizes])

    def forward(self, x):
        z = self.model(x)
        return [head(z) for head in self.classifier]


@pytest.fixture(scope="module")
def partition_dir(tmp_path_factory):
    parts = synthetic_s2_partitionings(SIZES)
    for part, tau in zip(parts, TAUS):
        part.name = f"cells_50_{tau}"
        part.counts = np.arange(len(part)) + 60
    out = tmp_path_factory.mktemp("cells")
    write_s2_partitionings(parts, out)
    return out


@pytest.fixture(scope="module")
def release_resnet():
    torch.manual_seed(3)
    ref = ReleaseLikeResNet(SIZES).eval()
    g = torch.Generator().manual_seed(4)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return ref


@pytest.fixture(scope="module")
def official_ckpt(release_resnet, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "epoch=014-val_loss=18.4833.ckpt"
    torch.save({"epoch": 14, "global_step": 1, "state_dict": release_resnet.state_dict(),
                "hyper_parameters": argparse.Namespace(arch="resnet50")}, path)
    return path


def _chain(partition_dir):
    """fine index -> (middle, coarse) indices, from the tokens with s2cell (independent of s2sphere)."""
    import csv

    def tokens(tau):
        lines = (partition_dir / f"cells_50_{tau}.csv").read_text().splitlines()[2:]
        return [r["hex_id"] for r in csv.DictReader(lines)]

    coarse, middle, fine = (tokens(t) for t in TAUS)

    def parent(token, candidates):
        cid = s2cell.token_to_cell_id(token)
        for i, c in enumerate(candidates):
            level = s2cell.token_to_level(c)
            if level <= s2cell.token_to_level(token) and \
                    s2cell.cell_id_to_parent_cell_id(cid, level) == s2cell.token_to_cell_id(c):
                return i
        raise AssertionError(token)

    mid = [parent(t, middle) for t in fine]
    return np.array(mid), np.array([parent(middle[m], coarse) for m in mid])


def test_official_checkpoint_predicts_hand_computed_hierarchy(official_ckpt, partition_dir, release_resnet):
    model = geoxai.load_model("s2", weights=official_ckpt, partitions=partition_dir, input_size=64)
    assert [p.name for p in model.partitionings] == ["coarse", "middle", "fine"]
    x = torch.randn(2, 3, 64, 64)
    mid, coarse = _chain(partition_dir)
    with torch.no_grad():
        pc, pm, pf = (torch.softmax(z, 1) for z in release_resnet(x))
        expected = pf * pm[:, mid] * pc[:, coarse]
        got = torch.softmax(model(x), 1)
    torch.testing.assert_close(got, expected / expected.sum(1, keepdim=True), rtol=1e-4, atol=1e-7)
    best = model.predict(x, top_k=3)
    fine_lines = (partition_dir / "cells_50_1000.csv").read_text().splitlines()
    for b, pred in enumerate(best):
        c = int(expected[b].argmax())
        row = fine_lines[3 + c].split(",")
        assert pred.cell == c and pred.label == row[1]
        assert (pred.lat, pred.lon) == (float(row[3]), float(row[4]))  # class -> mean photo location
    flat = geoxai.load_model("s2", weights=official_ckpt, partitions=partition_dir, input_size=64, hierarchical=False)
    with torch.no_grad():
        torch.testing.assert_close(flat(x), release_resnet(x)[2], rtol=1e-4, atol=1e-5)


def test_raw_images_use_five_crops_max_then_product(official_ckpt, partition_dir, release_resnet):
    model = geoxai.load_model("s2", weights=official_ckpt, partitions=partition_dir, input_size=64)
    photo = synthetic_photo(2, 80, 120)
    views = model.test_time_views(photo)
    assert views.shape == (5, 3, 64, 64)
    mid, coarse = _chain(partition_dir)
    with torch.no_grad():
        pc, pm, pf = (torch.softmax(z, 1).max(0).values for z in release_resnet(model.normalize(views)))
    expected = pf * pm[mid] * pc[coarse]
    pred = model.predict([photo], top_k=12, views="test-time")[0]  # multi-crop on request
    probs = np.zeros(12)
    for s in pred.top_k:
        probs[s.cell] = s.probability
    np.testing.assert_allclose(probs, (expected / expected.sum()).numpy(), rtol=1e-4, atol=1e-7)


def test_strict_loading_rejects_a_wrong_key(release_resnet, partition_dir, tmp_path):
    state = release_resnet.state_dict()
    state["model.4.0.conv1.weight_renamed"] = state.pop("model.4.0.conv1.weight")
    path = tmp_path / "wrong.ckpt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError) as info:
        geoxai.load_model("s2", weights=path, partitions=partition_dir, input_size=64)
    msg = str(info.value)
    assert "\n" not in msg and "wrong.ckpt" in msg
    assert "missing keys: model.4.0.conv1.weight" in msg and "unexpected keys: model.4.0.conv1.weight_renamed" in msg


def test_checkpoint_without_partitions_is_a_clear_error(official_ckpt):
    with pytest.raises(ValueError, match="partitions=DIR"):
        geoxai.load_model("s2", pretrained=False, weights=official_ckpt)


def _write_archive(tmp_path, arch, partition_dir, state_dict, image_size, as_zip=True):
    hparams = {
        "arch": arch, "image_size": image_size, "batch_size": 128, "weights": None,
        "partitionings": {
            "ptype": "s2", "shortnames": ["coarse", "middle", "fine"],
            "files": [f"../data/s2_partitioning/cells_50_{t}.csv" for t in TAUS],
            "base_part_kwargs": {"skiprows": 2, "index_col": "class_label", "col_class_label": "hex_id",
                                 "col_latitute": "latitude_mean", "col_longitude": "longitude_mean"},
        },
    }
    folder = tmp_path / arch
    folder.mkdir()
    (folder / "hparams.yaml").write_text(yaml.safe_dump(hparams))
    torch.save({"epoch": 9, "state_dict": state_dict, "hyper_parameters": argparse.Namespace(**hparams)},
               folder / "base.ckpt")
    (folder / "partitioning").mkdir()
    for t in TAUS:
        (folder / "partitioning" / f"cells_50_{t}.csv").write_bytes((partition_dir / f"cells_50_{t}.csv").read_bytes())
    (folder / "h3_train_mp16.json").write_text("{}")
    if not as_zip:
        return folder
    zpath = tmp_path / f"{arch}.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in folder.rglob("*"):
            if p.is_file():
                zf.write(p, f"s2/{p.relative_to(folder)}")
    return zpath


def test_release_archive_resnet50_zip_and_folder(tmp_path, partition_dir, release_resnet):
    zpath = _write_archive(tmp_path, "resnet50", partition_dir, release_resnet.state_dict(), 64)
    model = geoxai.load_model("s2", weights=zpath)
    assert model.backbone_name == "resnet50" and model.view_config.input_size == 64 and model.tta_resizes == (320, 256)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.partition_logits(x)[2], release_resnet(x)[2], rtol=1e-4, atol=1e-5)
    folder = tmp_path / "resnet50"
    again = geoxai.load_model("s2", weights=folder)
    assert len(again.predict([synthetic_photo(1, 70, 90)])) == 1


def test_release_archive_efficientnet_b4(tmp_path, partition_dir):
    torch.manual_seed(5)
    state = {}
    # the efficientnet_pytorch parameter names of B4, checked independently of geoxai's module
    from geoxai.models.s2 import S2Model

    reference = S2Model(pretrained=False, backbone="efficientnet-b4", num_classes=SIZES, input_size=64)
    for k, v in reference.state_dict().items():
        state[k] = torch.randn_like(v.float()).to(v.dtype) * 0.05 if v.is_floating_point() else v
        if k.endswith("running_var"):
            state[k] = v.abs() + 0.5
    names = set(state)
    assert {"model._conv_stem.weight", "model._bn0.running_var", "model._blocks.0._depthwise_conv.weight",
            "model._blocks.0._se_reduce.bias", "model._blocks.31._project_conv.weight", "model._conv_head.weight",
            "model._bn1.weight", "classifier.2.bias"} <= names
    assert not any(k.startswith("model._blocks.32.") or k.startswith("model._fc") for k in names)
    assert sum(k.endswith("._expand_conv.weight") for k in names) == 30  # the 2 stage-1 blocks do not expand
    zpath = _write_archive(tmp_path, "efficientnet-b4", partition_dir, state, 64)
    model = geoxai.load_model("s2", weights=zpath)
    assert model.backbone_name == "efficientnet_b4"
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    pred = model.predict([synthetic_photo(4, 72, 96)], top_k=2)[0]
    assert 0 <= pred.cell < 12 and len(pred.top_k) == 2
    assert model.layer() is model.model._head_act


def test_archive_with_missing_partition_file(tmp_path, partition_dir, release_resnet):
    folder = _write_archive(tmp_path, "resnet50", partition_dir, release_resnet.state_dict(), 64, as_zip=False)
    (folder / "partitioning" / "cells_50_2000.csv").unlink()
    with pytest.raises(FileNotFoundError, match="cells_50_2000.csv"):
        geoxai.load_model("s2", weights=folder)
