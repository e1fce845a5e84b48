"""The SemP model: synthetic releases in the public layout load strictly and predict with labels."""
from __future__ import annotations

import argparse
import shutil
import zipfile
from collections import OrderedDict

import pytest
import torch
import yaml

import geoxai
from geoxai.partitions.semp import build_semp_partitionings
from geoxai.partitions.semp_files import write_semp
from geoxai.testing import synthetic_photo

CITIES = [  # (address fine -> coarse, lat, lon, samples)
    ([("ES/Catalonia/place:Eixample", "Eixample"), ("ES/Catalonia/place:Barcelona", "Barcelona"),
      ("ES/Catalonia", "Catalonia"), ("ES", "Spain")], 41.39, 2.16, 6),
    ([("ES/Catalonia/place:Barcelona", "Barcelona"), ("ES/Catalonia", "Catalonia"), ("ES", "Spain")], 41.38, 2.17, 4),
    ([("ES/Catalonia/place:Girona", "Girona"), ("ES/Catalonia", "Catalonia"), ("ES", "Spain")], 41.98, 2.82, 3),
    ([("ES/Madrid/place:Madrid", "Madrid"), ("ES/Madrid", "Madrid"), ("ES", "Spain")], 40.42, -3.70, 5),
    ([("FR/Ile-de-France/place:Paris", "Paris"), ("FR/Ile-de-France", "Ile-de-France"), ("FR", "France")],
     48.86, 2.35, 9),
    ([("FR/Ile-de-France/place:Paris 4e", "Paris 4e"), ("FR/Ile-de-France/place:Paris", "Paris"),
      ("FR/Ile-de-France", "Ile-de-France"), ("FR", "France")], 48.855, 2.357, 3),
]


@pytest.fixture(scope="module")
def semp_dir(tmp_path_factory):
    addresses, lat, lon = [], [], []
    for address, la, lo, n in CITIES:
        addresses += [address] * n
        lat += [la + 0.001 * i for i in range(n)]
        lon += [lo] * n
    result = build_semp_partitionings(lat, lon, addresses, tau_d=2, tau_min=(3, 5, 9))
    out = tmp_path_factory.mktemp("semp-parts")
    write_semp(result, out, geocoder="offline")
    assert [len(p) for p in result.partitionings] == [4, 5, 6]
    return out, result


def _reference_backbone(arch: str, image_size: int) -> tuple[torch.nn.Module, int]:
    """The backbone exactly as the authors' utils_base.build_base_model builds it."""
    if arch.startswith("efficientnet"):
        from efficientnet_pytorch import EfficientNet

        net = EfficientNet.from_name(arch, image_size=image_size)
        n = net._fc.in_features
        net._dropout, net._fc = torch.nn.Identity(), torch.nn.Identity()
        return net, n
    import torchvision

    net = torchvision.models.__dict__[arch](weights=None)
    n = net.fc.in_features
    body = torch.nn.Sequential(*list(net.children())[:-2])
    body.avgpool = torch.nn.AdaptiveAvgPool2d(1)
    body.flatten = torch.nn.Flatten(start_dim=1)
    return body, n


def _make_release(root, semp_dir, arch, image_size, nested: bool, seed: int = 0):
    """A release in the public layout: base.ckpt (Lightning dict), hparams.yaml, m_<n>.csv, h_dict.json."""
    torch.manual_seed(seed)
    parts_dir, result = semp_dir
    net, n_features = _reference_backbone(arch, image_size)
    heads = torch.nn.ModuleList(torch.nn.Linear(n_features, len(p)) for p in result.partitionings)
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():  # non-trivial BN statistics, so that a mis-loaded buffer would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    state = OrderedDict([(f"model.{k}", v) for k, v in net.state_dict().items()]
                        + [(f"classifier.{k}", v) for k, v in heads.state_dict().items()])
    folder = root / "semp_100_125_250" if nested else root
    folder.mkdir(parents=True, exist_ok=True)
    files = [f"m_{len(p)}.csv" for p in result.partitionings]
    for f in files + ["h_dict.json"]:
        shutil.copy(parts_dir / f, folder / f)
    base = "../data/semantic_partitioning/100-125-250__original_wacv22"
    hparams = {
        "arch": arch.replace("_", "-") if arch.startswith("efficientnet") else arch,
        "batch_size": 128, "image_size": image_size, "weights": None,
        "partitionings": {"files": [f"{base}/{f}" for f in files], "h_dict": f"{base}/h_dict.json",
                          "ptype": "semp", "shortnames": ["coarse", "middle", "fine"],
                          "base_part_kwargs": {"skiprows": 0, "index_col": "class_index",
                                               "col_class_label": "class_label",
                                               "col_latitute": "latitude_mean", "col_longitude": "longitude_mean"}},
    }
    (folder / "hparams.yaml").write_text(yaml.safe_dump(hparams))
    torch.save({"epoch": 14, "global_step": 1000, "pytorch-lightning_version": "1.3.8", "state_dict": state,
                "hyper_parameters": argparse.Namespace(**hparams)}, folder / "base.ckpt")
    archive = root.parent / f"{root.name}.zip"  # stored, not deflated: quick to write and read
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(root.rglob("*")):
            zf.write(p, p.relative_to(root))
    return archive, net.eval(), heads.eval()


SIZE = 32  # tiny crops keep ResNet-50 / EfficientNet-B4 fast; the key layout does not depend on it


@pytest.fixture(scope="module", params=[("resnet50", True), ("efficientnet-b4", False)], ids=["resnet50", "b4"])
def release(request, tmp_path_factory, semp_dir):
    arch, nested = request.param
    root = tmp_path_factory.mktemp(f"release-{arch}")
    archive, net, heads = _make_release(root / "semp_100_125_250", semp_dir, arch, image_size=SIZE, nested=nested)
    return arch, archive, net, heads


def test_release_archive_loads_strictly_and_predicts_labels(release):
    arch, archive, ref_net, ref_heads = release
    model = geoxai.load_model("semp", weights=archive)
    assert model.backbone_name == arch.replace("-", "_") and model.view_config.input_size == SIZE
    assert [p.name for p in model.partitionings] == ["coarse", "middle", "fine"]
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        z = ref_net(x)
        expected = [h(z) for h in ref_heads]
        got = model.partition_logits(x)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)
    # f: the plain finest head; labels are the places' readable names
    preds = model.predict([synthetic_photo(seed=1, height=60, width=80)], top_k=3)
    fine = model.finest
    for p in preds:
        assert p.label == fine.labels[p.cell] and p.label.endswith(("Spain", "France"))
        assert (p.lat, p.lon) == (pytest.approx(fine.lat[p.cell]), pytest.approx(fine.lon[p.cell]))
        assert len(p.top_k) == 3
    if arch == "resnet50":  # the unpacked folder gives the same model
        folder = archive.with_suffix("")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(folder)
        same = geoxai.load_model("semp", weights=folder / "semp_100_125_250" / "hparams.yaml")
        with torch.no_grad():
            torch.testing.assert_close(same.partition_logits(x)[-1], got[-1])


def test_release_checkpoint_mismatch_is_a_one_line_error(release):
    arch, archive, _, _ = release
    other = "resnet18" if arch == "resnet50" else "efficientnet_b0"
    with pytest.raises(ValueError, match="does not match model 'semp'") as info:
        geoxai.load_model("semp", weights=archive, backbone=other)
    assert "\n" not in str(info.value)


def test_hierarchical_f_star_uses_h_dict_links(semp_dir):
    parts_dir, result = semp_dir
    model = geoxai.load_model("semp", pretrained=False, partitions=parts_dir, hierarchical=True, backbone="resnet18",
                              input_size=64)
    coarse, middle, fine = model.partitionings
    for c in range(len(fine)):
        assert model.ancestors[1, c] == fine.parent[c]
        assert model.ancestors[0, c] == middle.parent[fine.parent[c]]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        lc, lm, lf = model.partition_logits(x)
        expected = (torch.softmax(lf, 1) * torch.softmax(lm, 1)[:, model.ancestors[1]]
                    * torch.softmax(lc, 1)[:, model.ancestors[0]])
        torch.testing.assert_close(torch.softmax(model(x), 1), expected / expected.sum(), rtol=1e-5, atol=1e-6)


def test_region_cells_by_country_code_name_and_admin(semp_dir):
    parts_dir, result = semp_dir
    model = geoxai.load_model("semp", pretrained=False, partitions=parts_dir, backbone="resnet18", input_size=64)
    fine = model.finest
    spain = {fine.keys[i] for i in model.region_cells("ES").tolist()}
    assert spain and all(k == "ES" or k.startswith("ES/") for k in spain)
    assert spain == {fine.keys[i] for i in model.region_cells("spain").tolist()}
    assert {fine.keys[i] for i in model.region_cells("FR").tolist()} == {
        "FR/Ile-de-France/place:Paris", "FR/Ile-de-France/place:Paris 4e"}
    catalonia = {fine.keys[i] for i in model.region_cells("Catalonia").tolist()}
    assert catalonia and catalonia < spain and all(k.startswith("ES/Catalonia") for k in catalonia)
    region = geoxai.targets.parse_target("region:ES")
    scores = torch.randn(2, len(fine))
    expected = torch.softmax(scores, 1)[:, model.region_cells("ES")].sum(1)
    torch.testing.assert_close(region.score(model, scores), expected)
    with pytest.raises(ValueError, match="no region 'Atlantis'"):
        model.region_cells("Atlantis")


def test_missing_partitions_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="needs its partitionings"):
        geoxai.load_model("semp", pretrained=False)
    with pytest.raises(FileNotFoundError, match="partition directory does not exist"):
        geoxai.load_model("semp", pretrained=False, partitions=tmp_path / "nope")
