import gzip
import json
import warnings
from pathlib import Path

import pytest
import torch
from geoxai_streetclip.countries import read_countries
from geoxai_streetclip.model import StreetCLIPModel

import geoxai
from geoxai.contract import check_explainer, check_model
from geoxai.targets import Region
from geoxai.testing import synthetic_photo
from geoxai.weights import WeightsUnavailableError

NATURAL_EARTH = Path(__file__).resolve().parents[3] / "shared/data/naturalearth/ne_50m_admin_0_countries.geojson.gz"


@pytest.fixture(scope="module")
def model():
    return StreetCLIPModel(checkpoint="tiny")


@pytest.fixture
def photos():
    return [synthetic_photo(seed=i, height=70 + 9 * i, width=90 - 5 * i) for i in range(2)]


def test_packaged_countries_cover_natural_earth():
    countries = {c.key: c for c in read_countries()}
    assert len(countries) == 241
    france = countries["FRA"]  # Natural Earth's -99 ISO codes filled, centroid in metropolitan France
    assert (france.iso_a2, france.iso_a3, france.continent) == ("FR", "FRA", "Europe")
    assert 42 < france.lat < 51 and -5 < france.lon < 8
    assert countries["SWZ"].name == "Eswatini" and countries["USA"].subregion == "Northern America"
    if NATURAL_EARTH.exists():  # the packaged table is the source's, unit for unit
        with gzip.open(NATURAL_EARTH, "rt") as fh:
            codes = {f["properties"]["ADM0_A3"] for f in json.load(fh)["features"]}
        assert codes == set(countries)


def test_predicts_a_country_with_label_and_coordinates(model, photos):
    check_model(model)
    (pred,) = model.predict([photos[0]])
    country = model.countries[pred.cell]
    assert (pred.label, pred.lat, pred.lon) == (country.name, country.lat, country.lon)
    assert [p.name for p in model.partitionings] == ["continent", "subregion", "country"]


def test_region_targets_by_continent(model, photos):
    europe = Region(node="Europe").resolve(model)
    assert {model.countries[i].continent for i in europe.tolist()} == {"Europe"} and len(europe) == 50
    western = geoxai.parse_target("region:Western Europe").resolve(model)
    assert set(western.tolist()) < set(europe.tolist())
    batch = model.prepare(photos)
    maps = geoxai.load_explainer("gradcam").explain(model, batch, "region:Europe")
    assert maps.shape == (2, 32, 32) and maps.abs().sum() > 0
    assert not torch.allclose(maps, geoxai.load_explainer("gradcam").explain(model, batch, "region:Africa"))


def test_prompts_are_configurable():
    one = StreetCLIPModel(checkpoint="tiny", prompt="A photo taken in {country}.")
    two = StreetCLIPModel(checkpoint="tiny", prompt=["A photo taken in {country}.", "A street in {country}."])
    assert not torch.allclose(one.text_features, two.text_features)
    torch.testing.assert_close(two.text_features.norm(dim=1), torch.ones(241))
    with pytest.raises(ValueError, match="country"):
        StreetCLIPModel(checkpoint="tiny", prompt="A photo.")


@pytest.mark.parametrize("name", ["gradcam", "combicam", "lrp", "attention-rollout", "gradient-attention"])
def test_explainers_on_the_clip_tower(model, photos, name):
    check_explainer(geoxai.load_explainer(name), model, photos)


def test_lrp_is_conserved_through_the_cosine_head(model, photos):
    x = model.as_input(model.prepare(photos))
    with torch.no_grad():
        logits = model(x)
    cell = int(logits[0].argmax())
    maps = geoxai.load_explainer("lrp").explain(model, x, f"cell:{cell}")
    # not exactly the logit (the tower has biases), but relevance reaches the pixels at the logit's scale
    assert torch.isfinite(maps).all() and maps.sum((1, 2)).abs().max() > 1e-3 * logits[:, cell].abs().max()


def test_streetclip_offline_shows_licence_and_a_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with warnings.catch_warnings(record=True) as caught, pytest.raises(WeightsUnavailableError) as info:
        warnings.simplefilter("always")
        StreetCLIPModel()
    assert any("CC-BY-NC-4.0" in str(w.message) for w in caught)
    assert "geolocal/StreetCLIP" in str(info.value) and "\n" not in str(info.value)


def test_loads_a_saved_clip_folder(tmp_path, photos):
    from geoxai_streetclip.model import tiny_clip

    names = [c.name for c in read_countries()]
    clip, tokenizer = tiny_clip(3, names, ["A street view photo in {country}."])
    clip.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = StreetCLIPModel(checkpoint=str(tmp_path))
    fresh = StreetCLIPModel(checkpoint="tiny", seed=3)
    x = fresh.as_input(fresh.prepare(photos))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), fresh(x))


def test_streetclip_from_a_cached_hub_snapshot(tmp_path, photos, monkeypatch):
    """geolocal/StreetCLIP as huggingface_hub caches it (refs/main -> snapshots/<commit>), offline."""
    from geoxai import hub

    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path / "home"))  # its own cache: other tests see none
    from geoxai_streetclip.model import tiny_clip

    commit = "feedface" * 5
    repo = hub.cache_dir() / "models--geolocal--StreetCLIP"
    snapshot = repo / "snapshots" / commit
    clip, tokenizer = tiny_clip(4, [c.name for c in read_countries()], ["A street view photo in {country}."])
    clip.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    with pytest.warns(UserWarning, match="CC-BY-NC-4.0"):
        model = geoxai.load_model("streetclip")
    assert model.weights_provenance["revision"] == commit and model.weights_provenance["repo"] == "geolocal/StreetCLIP"
    x = model.as_input(model.prepare(photos))
    with torch.no_grad():
        torch.testing.assert_close(model(x), StreetCLIPModel(checkpoint="tiny", seed=4)(x))


class _RunsCode:
    """A pickle that would run a command when loaded unsafely."""

    def __reduce__(self):
        import os

        return (os.system, ("echo should-never-run",))


def test_a_checkpoint_folder_with_a_code_running_pickle_is_one_line(tmp_path):
    """A folder whose pytorch_model.bin is a crafted pickle (issue 22 §3): refused safely by
    torch.load(weights_only=True), and reported on one line naming the folder, not a traceback."""
    from geoxai_streetclip.model import tiny_clip

    clip, tokenizer = tiny_clip(3, [c.name for c in read_countries()], ["A street view photo in {country}."])
    clip.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    for weights in tmp_path.glob("*.safetensors"):
        weights.unlink()
    torch.save({"weight": _RunsCode()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(OSError) as info:
        StreetCLIPModel(checkpoint=str(tmp_path))
    message = str(info.value)
    assert str(tmp_path) in message and "refused" in message and "\n" not in message
