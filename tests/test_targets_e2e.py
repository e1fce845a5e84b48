"""Region targets end to end: parsed strings, scores equal to independently summed probabilities,
every built-in explainer on the tiny model and on the GeoCLIP plugin model."""
import pytest
import torch
from geographiclib.geodesic import Geodesic

import geoxai
from geoxai.contract import check_explainer
from geoxai.testing import TINY_CITIES

FAST = {"ig-smoothgrad": {"n_samples": 2, "n_steps": 4}}
EXPLAINERS = ["ig-smoothgrad", "gradcam", "combicam", "lrp"]


def _independent_region_mass(probs, members):
    return probs[:, members].sum(1)


def test_region_scores_equal_the_summed_probabilities_of_their_cells(tiny_model, tiny_batch):
    with torch.no_grad():
        scores = tiny_model(tiny_model.as_input(tiny_batch))
    probs = torch.softmax(scores.double(), 1)
    europe = [i for i, city in enumerate(TINY_CITIES) if city[4] == "EU"]
    km = {i: Geodesic.WGS84.Inverse(41.39, 2.17, c[2], c[3])["s12"] / 1000 for i, c in enumerate(TINY_CITIES)}
    near = [i for i, d in km.items() if d <= 1200]  # Barcelona and Paris (830 km), not Hanover (1350)
    assert near == [0, 1]
    cases = {
        "region:EU": europe, "region:europe": europe, "region:ES-BCN": [0],
        "within:41.39,2.17,1200": near, "cells:3,4": [3, 4],
    }
    for spec, members in cases.items():
        got = geoxai.parse_target(spec).score(tiny_model, scores)
        torch.testing.assert_close(got.double(), _independent_region_mass(probs, members), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(geoxai.parse_target("cell:5").score(tiny_model, scores), scores[:, 5])
    whole = geoxai.parse_target("within:0,0,20100").score(tiny_model, scores)  # the whole earth
    torch.testing.assert_close(whole, torch.ones_like(whole))


@pytest.mark.parametrize("name", EXPLAINERS)
@pytest.mark.parametrize("target", ["region:EU", "within:41.39,2.17,1200", "cell:6", "cells:1,2"])
def test_every_explainer_explains_region_targets_on_the_tiny_model(tiny_model, name, target):
    explainer = geoxai.load_explainer(name, **FAST.get(name, {}))
    check_explainer(explainer, tiny_model, target=target)


def test_region_and_predicted_targets_give_different_maps(tiny_model, tiny_batch):
    explainer = geoxai.load_explainer("ig-smoothgrad", **FAST["ig-smoothgrad"])
    region = explainer.explain(tiny_model, tiny_batch, target="region:AS")
    cell = explainer.explain(tiny_model, tiny_batch, target="cell:0")
    assert not torch.allclose(region, cell)


@pytest.fixture(scope="module")
def geoclip_model():
    pytest.importorskip("geoxai_geoclip", reason="install plugins/geoxai-geoclip (README set-up)")
    return geoxai.load_model("geoclip", backbone="tiny", gallery_size=300, seed=1)


@pytest.mark.parametrize("name", EXPLAINERS)
@pytest.mark.parametrize("target", ["region:US", "within:40.7,-74.0,1500", "cell:12"])
@pytest.mark.filterwarnings("ignore:lrp on geoclip is an approximation")
def test_every_explainer_explains_region_targets_on_geoclip(geoclip_model, name, target):
    check_explainer(geoxai.load_explainer(name, **FAST.get(name, {})), geoclip_model, target=target)


def test_geoclip_region_score_equals_its_gallery_points_probabilities(geoclip_model):
    from geoxai.contract import sample_photos

    x = geoclip_model.as_input(geoclip_model.prepare(sample_photos(2)))
    with torch.no_grad():
        scores = geoclip_model(x)
    probs = torch.softmax(scores, 1)
    gallery = geoclip_model.finest
    us = [i for i, label in enumerate(gallery.labels) if label.endswith(", US")]
    assert us
    torch.testing.assert_close(geoxai.parse_target("region:US").score(geoclip_model, scores),
                               _independent_region_mass(probs, us))


def test_cli_explains_a_within_target_on_the_geoclip_plugin(tmp_path, photo_files):
    pytest.importorskip("geoxai_geoclip", reason="install plugins/geoxai-geoclip (README set-up)")
    import json

    from click.testing import CliRunner

    from geoxai.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "explain", "--model", "geoclip", "--model-option", "backbone=tiny", "--model-option", "gallery_size=60",
        "--explainer", "gradcam", "--target", "within:41.39,2.17,2500", str(photo_files[0]), "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    doc = json.loads(next(out.glob("*.json")).read_text())
    assert "within:41.39,2.17,2500" in json.dumps(doc)
    assert doc["map"]["shape"] == [32, 32]
    lrp = CliRunner().invoke(main, ["explain", "--model", "geoclip", "--model-option", "backbone=tiny",
                                    "--model-option", "gallery_size=60", "--explainer", "lrp",
                                    str(photo_files[0]), "--out", str(tmp_path / "lrp")])
    assert lrp.exit_code == 0, lrp.output
    assert (tmp_path / "lrp" / f"{photo_files[0].stem}.npy").exists()
