"""Coordinates from a VLM's free-text answers (geoxai.coordinates)."""
from __future__ import annotations

import pytest

from geoxai.coordinates import parse_coordinates


@pytest.mark.parametrize(("text", "expected"), [
    ("48.8566, 2.3522", (48.8566, 2.3522)),
    ("It is Paris (48.8566, 2.3522).", (48.8566, 2.3522)),
    ("48.8566° N, 2.3522° E", (48.8566, 2.3522)),
    ("33.87 S 151.21 E", (-33.87, 151.21)),
    ("40.7128° N 74.0060° W", (40.7128, -74.006)),
    ("48°51'24\"N 2°21'36\"E", (48 + 51 / 60 + 24 / 3600, 2 + 21 / 60 + 36 / 3600)),
    ("```json\n{\"latitude\": -22.9, \"longitude\": -43.17}\n```", (-22.9, -43.17)),
    ("{\"location\": {\"lat\": \"35.6\", \"lng\": \"139.6\"}}", (35.6, 139.6)),
    ("latitude: 40.7, longitude: -74.0", (40.7, -74.0)),
    ("lat=40.7 lon=-74.0", (40.7, -74.0)),
    ("-33.87 151.21", (-33.87, 151.21)),
    ("First guess 10.5, 20.5; final answer: 41.39, 2.17", (41.39, 2.17)),
])
def test_wordings(text, expected):
    assert parse_coordinates(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["I cannot tell.", "In 2024 there were 3 cars", "Nothing here, 45 N", "",
                                  "{\"latitude\": 123.0, \"longitude\": 5.0}", "95.5, 10.5"])
def test_no_coordinates(text):
    assert parse_coordinates(text) is None
