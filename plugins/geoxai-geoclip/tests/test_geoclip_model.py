"""The GeoCLIP plugin: registration, agreement with geoclip's own model, targets, contract, explainers."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from geographiclib.geodesic import Geodesic
from geoxai_geoclip.model import TINY_BACKBONE, GeoCLIPModel

import geoxai
from geoxai.contract import check_explainer, check_model
from geoxai.testing import synthetic_photo
from geoxai.vit import cam_tap

FAST = {"ig-smoothgrad": {"n_samples": 2, "n_steps": 4}}


@pytest.fixture(scope="module")
def batch(geoclip_model):
    return geoclip_model.prepare([synthetic_photo(seed=i, height=80 + 9 * i, width=110) for i in range(2)])


def test_entry_point_registers_geoclip_from_its_distribution():
    rows = {r["name"]: r for r in geoxai.available()["models"]}
    assert rows["geoclip"]["distribution"] == "geoxai-geoclip"
    cli = subprocess.run([sys.executable, "-m", "geoxai.cli", "plugins"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    line = next(ln for ln in cli.stdout.splitlines() if ln.split()[:1] == ["geoclip"])
    assert "geoxai-geoclip" in line


def test_load_model_builds_offline_from_options():
    model = geoxai.load_model("geoclip", backbone="tiny", gallery_size=30, countries=False)
    assert isinstance(model, GeoCLIPModel) and not model.training
    assert [p.name for p in model.partitionings] == ["gallery"] and len(model.finest) == 30


def test_contract_holds(geoclip_model):
    check_model(geoclip_model)


def _real_geoclip(monkeypatch, gallery_size):
    """geoclip.GeoCLIP itself (shipped MLP, location encoder, logit scale) with a tiny random CLIP."""
    import geoclip
    import geoclip.model.image_encoder as image_encoder
    from transformers import CLIPConfig

    tiny_text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                     vocab_size=100, projection_dim=768)
    monkeypatch.setattr(image_encoder, "CLIPConfig", lambda **_: CLIPConfig(
        projection_dim=768, text_config=tiny_text, vision_config=TINY_BACKBONE))
    torch.manual_seed(5)
    reference = geoclip.GeoCLIP(from_pretrained=True, clip_pretrained=False).eval()
    reference.gps_gallery = reference.gps_gallery[:gallery_size]
    return reference


def test_scores_equal_geoclips_own_forward_and_ranking(monkeypatch):
    reference = _real_geoclip(monkeypatch, gallery_size=120)
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = reference(pixels, reference.gps_gallery)  # computed before wrapping
        wrapped = GeoCLIPModel.from_geoclip(reference, countries=False)
        got = wrapped(pixels)
        again = reference(pixels, reference.gps_gallery)  # wrapping changes nothing
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(again, expected, rtol=1e-5, atol=1e-5)
    top = torch.topk(expected.softmax(-1), 3, dim=1)
    preds = wrapped.predict(pixels, top_k=3)
    for b, p in enumerate(preds):
        assert [s.cell for s in p.top_k] == top.indices[b].tolist()
        gps = reference.gps_gallery[top.indices[b, 0]]
        assert (p.lat, p.lon) == pytest.approx((float(gps[0]), float(gps[1])), abs=1e-4)


def test_pretrained_heads_are_geoclips_shipped_weights(geoclip_model):
    from geoclip import LocationEncoder

    shipped = LocationEncoder(from_pretrained=True).state_dict()
    for key, value in shipped.items():
        assert torch.equal(geoclip_model.location_encoder.state_dict()[key], value)
    random_heads = GeoCLIPModel(backbone="tiny", heads="random", gallery_size=20, countries=False)
    assert not torch.equal(random_heads.logit_scale, geoclip_model.logit_scale)


def test_within_target_is_the_probability_mass_of_gallery_points_in_the_circle(geoclip_model, batch):
    lat, lon = 41.39, 2.17
    gps = geoclip_model.gallery_gps.double().numpy()
    dist = np.array([Geodesic.WGS84.Inverse(lat, lon, a, b)["s12"] / 1000 for a, b in gps])
    # WGS84 (here) and the sphere (geoxai) differ by < 0.5%: pick a radius with no point that close to it
    km = next(r for r in (800.0, 1100.0, 1500.0, 2000.0, 2600.0, 3300.0)
              if (dist <= r).any() and not (np.abs(dist - r) < 0.005 * r).any())
    x = geoclip_model.as_input(batch)
    with torch.no_grad():
        scores = geoclip_model(x)
        got = geoxai.parse_target(f"within:{lat},{lon},{km}").score(geoclip_model, scores)
    inside = torch.as_tensor(np.flatnonzero(dist <= km))
    expected = torch.softmax(scores.double(), 1)[:, inside].sum(1)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


def test_country_region_is_the_mass_of_that_countrys_gallery_points(geoclip_model, batch):
    import reverse_geocoder

    gps = geoclip_model.gallery_gps.double().numpy()
    codes = [r["cc"] for r in reverse_geocoder.search([tuple(g) for g in gps], mode=1, verbose=False)]
    country = max(set(codes), key=codes.count)
    with torch.no_grad():
        scores = geoclip_model(geoclip_model.as_input(batch))
        got = geoxai.parse_target(f"region:{country}").score(geoclip_model, scores)
    members = torch.as_tensor([i for i, c in enumerate(codes) if c == country])
    torch.testing.assert_close(got, torch.softmax(scores, 1)[:, members].sum(1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no region 'Atlantis'"):
        geoxai.parse_target("region:Atlantis").score(geoclip_model, scores)


def test_core_token_grid_tap_sees_patch_tokens_and_carries_gradient(geoclip_model, batch):
    tap = cam_tap(geoclip_model, "last")
    encoder = geoclip_model.image_encoder.clip.vision_model.encoder
    assert tap.module is encoder.layers[-1].layer_norm1  # the last block's normalised input
    grid = TINY_BACKBONE["image_size"] // TINY_BACKBONE["patch_size"]
    seen = []

    def keep(module, args, out):
        out.retain_grad()
        seen.append(out)

    handle = tap.module.register_forward_hook(keep)
    try:
        x = geoclip_model.as_input(batch).requires_grad_(True)
        geoclip_model(x).max(1).values.sum().backward()
    finally:
        handle.remove()
    size = tuple(x.shape[-2:])
    assert tap.to_map(seen[0], size).shape == (2, TINY_BACKBONE["hidden_size"], grid, grid)
    assert tap.to_map(seen[0].grad, size).abs().sum() > 0  # the last block's *input* reaches the class token
    assert "layer_norm1.norm.weight" not in str(list(geoclip_model.state_dict()))  # the model is not rewrapped


@pytest.mark.parametrize("name", ["ig-smoothgrad", "gradcam", "combicam"])
@pytest.mark.parametrize("target", [None, "cell:7", "within:48.85,2.35,2000"])
def test_every_applicable_explainer_runs_on_geoclip(geoclip_model, name, target):
    maps = check_explainer(geoxai.load_explainer(name, **FAST.get(name, {})), geoclip_model, target=target)
    assert maps.abs().sum() > 0


@pytest.mark.parametrize("target", [None, "cell:7", "within:48.85,2.35,2000"])
def test_lrp_on_geoclip_uses_the_conservative_transformer_rules(geoclip_model, target):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no approximation warning any more
        maps = check_explainer(geoxai.load_explainer("lrp"), geoclip_model, target=target)
    assert maps.abs().sum() > 0
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in geoclip_model.modules()) == 0
    check_model(geoclip_model)  # still usable afterwards


def test_attention_explainers_run_on_geoclip(geoclip_model):
    for name in ("attention-rollout", "gradient-attention"):
        assert check_explainer(geoxai.load_explainer(name, last_blocks=1), geoclip_model).abs().sum() > 0


def test_bad_options_give_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv: GPS gallery file not found"):
        GeoCLIPModel(backbone="tiny", gallery=tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("y,x\n1,2\n")
    with pytest.raises(ValueError, match=r"bad.csv: missing column\(s\) lat, lon"):
        GeoCLIPModel(backbone="tiny", gallery=bad)
    out_of_range = tmp_path / "far.csv"
    out_of_range.write_text("LAT,LON\n95,2\n")
    with pytest.raises(ValueError, match="far.csv: 1 coordinate"):
        GeoCLIPModel(backbone="tiny", gallery=out_of_range)
    with pytest.raises(ValueError, match="heads must be"):
        GeoCLIPModel(backbone="tiny", heads="imagenet")
    with pytest.raises(ValueError, match="768-d CLIP projection"):
        GeoCLIPModel(backbone={**TINY_BACKBONE, "projection_dim": 16})
    with pytest.raises(OSError, match="CLIP backbone '.*no-such-clip' could not be loaded") as err:
        GeoCLIPModel(backbone=str(tmp_path / "no-such-clip"), local_files_only=True)
    assert "\n" not in str(err.value)


def test_own_gallery_csv_is_used(tmp_path):
    own = tmp_path / "gallery.csv"
    own.write_text("lat,lon\n41.39,2.17\n35.68,139.65\n-33.87,151.21\n")
    model = GeoCLIPModel(backbone="tiny", gallery=own)
    assert [p.name for p in model.partitionings] == ["country", "gallery"]
    assert model.partitionings[0].keys == ["AU", "ES", "JP"]
    assert model.region_cells("JP").tolist() == [1]
    assert "ES" in model.finest.labels[0]


def test_view_config_matches_the_built_model_and_needs_no_weights(geoclip_model, monkeypatch):
    from geoxai_geoclip import model as geoclip_module

    from geoxai.plugins import model_view_config

    monkeypatch.setattr(geoclip_module, "_vision_tower", lambda *a, **k: pytest.fail("the tower was built"))
    cfg = model_view_config("geoclip", backbone="tiny")
    assert cfg == geoclip_model.view_config
    assert (cfg.input_size, cfg.resize_size, cfg.interpolation) == (32, 32, "bicubic")


class _RunsCode:
    """A pickle that would run a command when loaded unsafely."""

    def __reduce__(self):
        import os

        return (os.system, ("echo should-never-run",))


def test_a_backbone_folder_with_a_code_running_pickle_is_one_line(tmp_path):
    """A CLIP folder whose pytorch_model.bin is a crafted pickle (issue 22 §3): refused safely by
    torch.load(weights_only=True), and reported on one line naming it, not a traceback."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_BACKBONE)).save_pretrained(tmp_path)
    for weights in tmp_path.glob("*.safetensors"):
        weights.unlink()
    torch.save({"weight": _RunsCode()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(OSError) as info:
        GeoCLIPModel(backbone=str(tmp_path), local_files_only=True, gallery_size=10, countries=False)
    message = str(info.value)
    assert str(tmp_path) in message and "refused" in message and "\n" not in message


def test_an_offline_backbone_is_one_line_from_the_cli(tmp_path):
    """GeoCLIP offline (issue 26 §7): the missing backbone is one line, not a traceback."""
    from click.testing import CliRunner

    from geoxai.cli import main

    photo = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray(synthetic_photo(seed=1, height=64, width=64)).save(photo)
    result = CliRunner().invoke(main, ["predict", str(photo), "--model", "geoclip", "--model-option",
                                       f"backbone={tmp_path / 'no-such-clip'}", "--model-option",
                                       "local_files_only=true"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "CLIP backbone" in errors[0] and "Traceback" not in result.output
