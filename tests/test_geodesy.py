import numpy as np
import pytest
import torch
from geographiclib.geodesic import Geodesic

from geoxai.geodesy import EARTH_RADIUS_KM, accuracy_at, great_circle_km, pairwise_great_circle_km, validate_coordinates

SPHERE = Geodesic(EARTH_RADIUS_KM * 1000.0, 0.0)  # geographiclib on the same mean-radius sphere


def reference_km(lat1, lon1, lat2, lon2):
    return SPHERE.Inverse(lat1, lon1, lat2, lon2)["s12"] / 1000.0


def test_random_pairs_match_geographiclib():
    rng = np.random.default_rng(1)
    lat1, lat2 = rng.uniform(-90, 90, (2, 500))
    lon1, lon2 = rng.uniform(-180, 180, (2, 500))
    # antipodes, poles, coincident and near-coincident points, the date line
    extra = [(0, 0, 0, 180), (45, 10, -45, -170), (90, 0, -90, 0), (90, 0, 90, 123), (-90, 10, 12, 34),
             (10, 20, 10, 20), (10, 20, 10 + 1e-7, 20), (0, 179.9, 0, -179.9), (33.3, -12.0, -33.3, 168.0)]
    lat1 = np.r_[lat1, [e[0] for e in extra]]
    lon1 = np.r_[lon1, [e[1] for e in extra]]
    lat2 = np.r_[lat2, [e[2] for e in extra]]
    lon2 = np.r_[lon2, [e[3] for e in extra]]
    ours = great_circle_km(lat1, lon1, lat2, lon2)
    ref = np.array([reference_km(*p) for p in zip(lat1, lon1, lat2, lon2)])
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    assert ours[len(ours) - len(extra)] == pytest.approx(np.pi * EARTH_RADIUS_KM, rel=1e-12)


def test_torch_and_scalar_and_pairwise_agree():
    assert isinstance(great_circle_km(0, 0, 0, 1), float)
    assert great_circle_km(0, 0, 0, 1) == pytest.approx(EARTH_RADIUS_KM * np.pi / 180)
    lat = torch.tensor([10.0, -20.0], dtype=torch.float64)
    out = great_circle_km(lat, torch.tensor([0.0, 5.0], dtype=torch.float64), 0.0, 0.0)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), great_circle_km(np.array([10.0, -20.0]), np.array([0.0, 5.0]), 0, 0))
    pw = pairwise_great_circle_km([0, 10], [0, 10], [0, 1, 2], [0, 1, 2])
    assert pw.shape == (2, 3) and pw[0, 0] == 0


def test_accuracy_is_strict_and_per_radius():
    d = np.array([0.5, 1.0, 24.9, 200.0, 749.0, 3000.0])
    acc = accuracy_at(d)
    assert acc == {1: pytest.approx(1 / 6), 25: pytest.approx(3 / 6), 200: pytest.approx(3 / 6),
                   750: pytest.approx(5 / 6), 2500: pytest.approx(5 / 6)}
    assert all(np.isnan(v) for v in accuracy_at([]).values())


def test_validate_coordinates_names_the_row():
    validate_coordinates([0, 90, -90], [180, -180, 0])
    with pytest.raises(ValueError, match=r"data.csv: 1 coordinate\(s\) out of range, first at row 1"):
        validate_coordinates([0, 91], [0, 0], where="data.csv")
    with pytest.raises(ValueError, match="out of range"):
        validate_coordinates([np.nan], [0])
