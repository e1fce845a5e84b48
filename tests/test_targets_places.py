"""country: and continent: targets: the summed probability of the cells in a Natural Earth country
or continent, for any model (also without a label hierarchy)."""
from __future__ import annotations

import pytest
import torch

import geoxai
from geoxai.countries import cell_countries, countries, find_country
from geoxai.targets import Place, Region


def test_parse_country_and_continent_targets():
    assert geoxai.parse_target("country:Spain") == Place("country", "ES")
    assert str(geoxai.parse_target("country:esp")) == "country:ES"
    assert str(geoxai.parse_target("continent:europe")) == "continent:Europe"
    with pytest.raises(ValueError, match=r"^unknown country 'Spian'; did you mean 'Spain'"):
        geoxai.parse_target("country:Spian")
    with pytest.raises(ValueError, match="unknown continent 'Eurasia'"):
        geoxai.parse_target("continent:Eurasia")
    with pytest.raises(ValueError, match="invalid target"):
        geoxai.parse_target("country:")


def test_place_cells_on_the_tiny_model(tiny_model):
    assert Place("country", "ES").resolve(tiny_model).tolist() == [0]
    assert Place("continent", "Europe").resolve(tiny_model).tolist() == [0, 1, 2]
    assert Place("continent", "Oceania").resolve(tiny_model).tolist() == [7]
    with pytest.raises(ValueError, match="contains no cell"):
        Place("country", "Portugal").resolve(tiny_model)


@pytest.mark.parametrize("spec", ["country:ES", "country:Japan", "continent:Europe", "continent:Asia"])
def test_place_scores_equal_the_region_of_the_same_cells(tiny_model, tiny_batch, spec):
    place = geoxai.parse_target(spec)
    cells = place.resolve(tiny_model)
    with torch.no_grad():
        scores = tiny_model(tiny_model.as_input(tiny_batch)).double()
    expected = torch.softmax(scores, 1)[:, cells].sum(1)
    torch.testing.assert_close(place.score(tiny_model, scores), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(place.score(tiny_model, scores),
                               Region(cell_indices=tuple(cells.tolist())).score(tiny_model, scores))


@pytest.mark.parametrize("name, options", [("ig-smoothgrad", {"n_samples": 2, "n_steps": 4, "seed": 3}),
                                           ("gradcam", {}), ("combicam", {}), ("lrp", {})])
def test_explainers_give_equal_maps_for_a_place_and_its_region(tiny_model, tiny_batch, name, options):
    # the explainers compute in float32 (they cast their input): the scores are compared in float64
    # above; here both targets run the same float32 computation, so the maps agree to rounding
    place = geoxai.parse_target("continent:Asia")
    region = Region(cell_indices=tuple(place.resolve(tiny_model).tolist()))
    explainer = geoxai.load_explainer(name, **options)
    a, b = explainer.explain(tiny_model, tiny_batch, place), explainer.explain(tiny_model, tiny_batch, region)
    assert a.abs().sum() > 0
    scale = float(a.abs().max())  # probability gradients of a random net are tiny: compare relatively
    torch.testing.assert_close(a.double() / scale, b.double() / scale, rtol=1e-5, atol=1e-6)
    other = explainer.explain(tiny_model, tiny_batch, Region(cell_indices=(0, 3, 4)))
    assert float((a - other).norm() / a.norm()) > 1e-2


def test_country_targets_work_without_a_label_hierarchy():
    pytest.importorskip("geoxai_geoclip", reason="install plugins/geoxai-geoclip (README set-up)")
    # without its reverse-geocoded country partitioning GeoCLIP is one flat gallery of points
    model = geoxai.load_model("geoclip", backbone="tiny", gallery_size=300, seed=1, countries=False)
    with pytest.raises(ValueError):
        model.region_cells("US")  # region: finds nothing ...
    us = find_country("US").index
    expected = (cell_countries(model.finest) == us).nonzero()[0]
    assert len(expected) > 0
    assert Place("country", "US").resolve(model).tolist() == expected.tolist()  # ... country: works anyway
    scores = torch.randn(2, len(model.finest), dtype=torch.float64)
    torch.testing.assert_close(Place("country", "US").score(model, scores),
                               torch.softmax(scores, 1)[:, expected].sum(1))
    assert len(countries()) == 241


def test_predictions_carry_top_countries(tiny_model, photos):
    (pred,) = tiny_model.predict(photos[:1], top_k=3)
    top = pred.top_countries
    by_code = {row["code"]: row["probability"] for row in top["countries"]}
    assert set(by_code) == {"ES", "FR", "DE", "US", "BR", "JP", "IN", "AU"}
    cells = {c.label.split(", ")[-1]: c.probability for c in pred.top_k}
    assert by_code["JP"] == pytest.approx(sum(p for k, p in cells.items() if k == "Japan") or by_code["JP"])
    assert sum(by_code.values()) == pytest.approx(1.0, abs=1e-6) and top["ocean"] == 0.0
    europe = next(r for r in top["continents"] if r["name"] == "Europe")["probability"]
    assert europe == pytest.approx(by_code["ES"] + by_code["FR"] + by_code["DE"])
    assert pred.to_dict()["top_countries"] == top
