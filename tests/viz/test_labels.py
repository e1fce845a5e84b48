"""Labels that say what they mean: probabilities never read 0.00 beside a real one, coordinates are
labelled, colour bars name their units, zoomed maps frame the likely cells, bands stay in range, and
random weights are marked."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from geoxai.types import CellScore, GeoPrediction  # noqa: E402
from geoxai.viz import figure as figure_module  # noqa: E402
from geoxai.viz.figure import explanation_figure, figure_title, map_units  # noqa: E402
from geoxai.viz.projection import X_MAX  # noqa: E402
from geoxai.viz.worldmap import draw_world_map, focus_cells, format_probability  # noqa: E402


def _prediction(spread: bool = False) -> GeoPrediction:
    cells = [CellScore(0, 0.953, -69.2281, 161.2383, "Ross Sea"), CellScore(1, 0.03, -72.0, 170.0, "Cape Adare")]
    if spread:  # a long tail of unlikely cells all over the world
        cells += [CellScore(2 + i, 0.001, lat, lon, f"far {i}")
                  for i, (lat, lon) in enumerate([(60, -150), (40, -70), (50, 10), (30, 100), (-30, -60)])]
    countries = {"countries": [{"code": "AQ", "probability": 0.0014}]}
    return GeoPrediction(0, -69.2281, 161.2383, "Ross Sea", 0.953, cells, top_countries=countries)


def test_probabilities_keep_their_digits():
    assert format_probability(0.0014) == "0.0014" and format_probability(0.953) == "0.95"
    assert format_probability(0.953, 3) == "0.953" and format_probability(0.0) == "0.00"
    assert format_probability(0.00041, 3) == "0.00041"


def test_title_labels_latitude_longitude_cell_and_probability():
    title = figure_title(_prediction(), ground_truth=(-70.0, 160.0))
    first, second = title.splitlines()
    assert first == "prediction: Ross Sea (cell 0) at lat -69.2281, lon 161.2383, p=0.953"
    assert second.startswith("ground truth: lat -70.0000, lon 160.0000, GCD error ")


def test_country_legend_never_reads_zero_beside_a_real_probability():
    fig, ax = plt.subplots()
    try:
        draw_world_map(ax, _prediction(), colorbar=False)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
    finally:
        plt.close(fig)
    assert "country shading: country probability (top: AQ 0.0014)" in labels


def test_zoom_frames_the_likely_cells_not_the_long_tail():
    assert list(focus_cells(np.array([0.953, 0.03, 0.2, 0.001]))) == [0, 2]
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        draw_world_map(ax, _prediction(spread=True), zoom=True, colorbar=False, legend=False)
        width = np.diff(ax.get_xlim())[0]
    finally:
        plt.close(fig)
    assert width < 0.25 * 2 * X_MAX  # a region around the Ross Sea, not the world


def test_colour_bar_units_say_what_the_map_measures():
    assert map_units("lrp").startswith("LRP relevance") and "biases absorb" in map_units("lrp")
    assert map_units("ig-smoothgrad").startswith("attribution²")
    assert "tiny values" in map_units("my-method", np.full((4, 4), 1e-8))
    assert map_units(None) == "attribution"


def _capture(monkeypatch):
    drawn = {}

    def keep(fig, path, dpi=100):
        drawn["texts"] = [t.get_text() for t in fig.texts]
        drawn["bars"] = [ax.get_ylabel() for ax in fig.axes]
        plt.close(fig)
        return path

    monkeypatch.setattr(figure_module, "save_figure", keep)
    return drawn


@pytest.mark.parametrize("random_weights", [False, True])
def test_figure_marks_random_weights_and_labels_its_colour_bar(monkeypatch, tmp_path, random_weights):
    drawn = _capture(monkeypatch)
    view = np.full((32, 32, 3), 128, np.uint8)
    heat = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    explanation_figure(view, heat, np.zeros((32, 32), int), ["sky"], [("sky", 1.0)], _prediction(), k=10,
                       path=tmp_path / "f.png", explainer="gradcam", random_weights=random_weights)
    assert ("random weights: labels mean nothing" in drawn["texts"]) is random_weights
    assert "Grad-CAM activation (relative)" in drawn["bars"]


def test_quality_bands_stay_in_range():
    from geoxai.quality.outputs import band_limits

    mean = pd.Series([5.0, 100.0, 0.5])
    lower, upper = band_limits("km", mean, pd.Series([20.0, 20.0, 1.0]))
    assert list(lower) == [0.0, 80.0, 0.0] and list(upper) == [25.0, 120.0, 1.5]
    lower, upper = band_limits("mass_pred", pd.Series([0.9]), pd.Series([0.2]))
    assert upper.iloc[0] == 1.0 and lower.iloc[0] == pytest.approx(0.7)
    lower, _ = band_limits("score", pd.Series([-1.0]), pd.Series([1.0]))  # a logit may be negative
    assert lower.iloc[0] == -2.0
