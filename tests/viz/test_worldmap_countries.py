"""The Natural Earth basemap as drawn: every country present, the Equal Earth projection, the
choropleth of probability per country."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from geoxai.types import CellScore, GeoPrediction  # noqa: E402
from geoxai.viz.projection import X_MAX, Y_MAX, equal_earth  # noqa: E402
from geoxai.viz.worldmap import LAND, OCEAN, draw_world_map  # noqa: E402

CAPITALS = {"HU": (47.4979, 19.0402), "RS": (44.7866, 20.4489), "ME": (42.4304, 19.2594),
            "MM": (19.7633, 96.0785), "XK": (42.6629, 21.1655)}


def _prediction(shares=None):
    # markers away from the tested capitals, so a sampled pixel shows the country's fill
    cells = [CellScore(0, 0.6, 41.39, 2.17, "Barcelona"), CellScore(1, 0.3, 52.38, 9.73, "Hanover")]
    top = None if shares is None else {
        "countries": [{"code": c, "name": c, "continent": "Europe", "probability": p} for c, p in shares.items()],
        "continents": [], "ocean": 0.0}
    return GeoPrediction(0, 41.39, 2.17, "Barcelona", 0.6, cells, top_countries=top)


def _render(prediction, zoom=False):
    fig = plt.figure(figsize=(10, 5.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    draw_world_map(ax, prediction, top_k=2, zoom=zoom, colorbar=False, legend=False)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255
    lands = next(c for c in ax.collections if hasattr(c, "country_codes"))
    return fig, ax, pixels, lands


def _pixel(ax, pixels, lat, lon):
    x, y = equal_earth(lon, lat)
    px, py = ax.transData.transform((float(x), float(y)))
    if not ax.get_window_extent().contains(px, py):
        return None
    return pixels[pixels.shape[0] - 1 - int(round(py)), int(round(px))]


@pytest.mark.parametrize("zoom", [False, True])
def test_every_country_is_drawn_hungary_to_kosovo_included(zoom):
    fig, ax, pixels, lands = _render(_prediction(), zoom=zoom)
    try:
        codes = list(lands.country_codes)
        assert len(codes) == 241
        paths = dict(zip(codes, lands.get_paths()))
        for code, (lat, lon) in CAPITALS.items():
            assert len(paths[code].vertices) > 10, code
            x, y = equal_earth(lon, lat)
            assert paths[code].contains_point((float(x), float(y))), code  # the capital is inside its shape
            colour = _pixel(ax, pixels, lat, lon)
            if colour is None:
                assert zoom and code == "MM"  # outside the frame zoomed on Europe
                continue
            # drawn land (fill or border), not the sea-coloured hole of the old basemap
            assert np.abs(colour - to_rgb(OCEAN)).sum() > 0.1, code
    finally:
        plt.close(fig)


def test_countries_are_shaded_by_their_probability():
    fig, ax, pixels, lands = _render(_prediction({"HU": 0.7, "ES": 0.2}))
    try:
        faces = dict(zip(lands.country_codes, lands.get_facecolors()[:, :3]))
        assert np.allclose(faces["PT"], to_rgb(LAND))  # no probability: plain land
        # more probable = darker shade of the sequential colour map
        assert faces["HU"].sum() < faces["ES"].sum() < np.array(to_rgb(LAND)).sum()
        assert np.abs(_pixel(ax, pixels, 47.0, 19.5) - faces["HU"]).sum() < 0.05
    finally:
        plt.close(fig)


def test_equal_earth_projection_is_equal_area_and_has_the_published_extent():
    # the published frame on the unit sphere: x up to 2.70663, y up to 1.31736
    assert X_MAX == pytest.approx(2.70663, abs=1e-5) and Y_MAX == pytest.approx(1.31736, abs=1e-5)

    def area(lat0, lon0, d=0.5):  # a small lat/lon box, projected, shoelace formula
        lat = np.array([lat0, lat0, lat0 + d, lat0 + d])
        lon = np.array([lon0, lon0 + d, lon0 + d, lon0])
        x, y = equal_earth(lon, lat)
        return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))

    def sphere(lat0, d=0.5):
        return np.radians(d) * (np.sin(np.radians(lat0 + d)) - np.sin(np.radians(lat0)))

    for lat0, lon0 in [(0, 0), (45, 100), (-70, -150), (80, 10)]:
        assert area(lat0, lon0) == pytest.approx(sphere(lat0), rel=2e-3)
