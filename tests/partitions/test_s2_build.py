"""Adaptive S2 partitioning, cross-checked with the independent ``s2cell`` implementation."""
from __future__ import annotations

import numpy as np
import pytest

from geoxai.partitions import build_s2_partitionings, read_s2_partitionings, write_s2_partitionings

s2cell = pytest.importorskip("s2cell")

TAU_MIN, TAU_MAX = 15, (600, 250, 90)


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(7)
    centres = np.array([[48.85, 2.35], [40.71, -74.0], [35.68, 139.69], [-33.87, 151.21], [41.39, 2.17],
                        [64.1, -21.9], [-1.3, 36.8]])
    n = 4000
    c = centres[rng.integers(0, len(centres), n)]
    spread = rng.choice([0.05, 0.5, 4.0], size=(n, 1))
    lat = np.clip(c[:, 0] + rng.normal(0, 1, n) * spread[:, 0], -89.9, 89.9)
    lon = (c[:, 1] + rng.normal(0, 1.5, n) * spread[:, 0] + 180) % 360 - 180
    # a sparse scatter whose cells must be dropped
    lat = np.concatenate([lat, rng.uniform(-60, 70, 40)])
    lon = np.concatenate([lon, rng.uniform(-180, 180, 40)])
    return lat, lon


@pytest.fixture(scope="module")
def parts(photos):
    return build_s2_partitionings(*photos, tau_min=TAU_MIN, tau_max=TAU_MAX)


def _cell_of_each_photo(part, lat, lon):
    """Independently (s2cell) find, for every photo, the partitioning cell containing it, or -1."""
    index = {s2cell.token_to_cell_id(k): i for i, k in enumerate(part.keys)}
    levels = sorted({s2cell.token_to_level(k) for k in part.keys})
    out = np.full(len(lat), -1)
    for j, (a, o) in enumerate(zip(lat, lon)):
        for level in levels:
            i = index.get(s2cell.lat_lon_to_cell_id(a, o, level))
            if i is not None:
                out[j] = i
                break
    return out


def test_cells_are_valid_and_hold_between_tau_min_and_tau_max_photos(parts, photos):
    lat, lon = photos
    assert [p.name for p in parts] == [f"cells_{TAU_MIN}_{t}" for t in TAU_MAX]
    assert len(parts[0]) < len(parts[1]) < len(parts[2])
    for part, tmax in zip(parts, TAU_MAX):
        for key in part.keys:
            cid = s2cell.token_to_cell_id(key)
            assert s2cell.cell_id_is_valid(cid) and s2cell.cell_id_to_token(cid) == key
            assert s2cell.token_to_level(key) >= 2
        member = _cell_of_each_photo(part, lat, lon)
        counts = np.bincount(member[member >= 0], minlength=len(part))
        np.testing.assert_array_equal(counts, part.counts)
        assert counts.min() > TAU_MIN and counts.max() <= tmax
        for i in range(len(part)):  # location = mean of the member photos
            assert part.lat[i] == pytest.approx(lat[member == i].mean())
            assert part.lon[i] == pytest.approx(lon[member == i].mean())
        # cells do not overlap: no key is an ancestor of another
        ids = [s2cell.token_to_cell_id(k) for k in part.keys]
        idset = set(ids)
        for cid in ids:
            for level in range(s2cell.cell_id_to_level(cid)):
                assert s2cell.cell_id_to_parent_cell_id(cid, level) not in idset


def test_dropped_photos_are_exactly_those_in_small_cells(parts, photos):
    lat, lon = photos
    member = _cell_of_each_photo(parts[-1], lat, lon)
    assert (member < 0).sum() >= 30  # most of the sparse scatter
    assert parts[-1].counts.sum() == (member >= 0).sum()


def test_hierarchy_is_consistent(parts):
    for coarse, fine in zip(parts[:-1], parts[1:]):
        assert (fine.parent >= 0).all()
        for key, p in zip(fine.keys, fine.parent):
            parent_key = coarse.keys[p]
            level = s2cell.token_to_level(parent_key)
            assert s2cell.token_to_level(key) >= level
            assert s2cell.cell_id_to_parent_cell_id(s2cell.token_to_cell_id(key), level) == \
                s2cell.token_to_cell_id(parent_key)
        # a coarse cell holds at least the photos of its fine cells
        sums = np.bincount(fine.parent, weights=fine.counts, minlength=len(coarse))
        assert (sums <= coarse.counts).all()


def test_start_at_face_cells_and_a_single_face():
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(10, 20, 60), rng.uniform(10, 20, 60)
    (part,) = build_s2_partitionings(lat, lon, tau_min=5, tau_max=100, level_min=0)
    assert len(part) == 1 and s2cell.token_to_level(part.keys[0]) == 0  # one face cell, never split
    (part,) = build_s2_partitionings(lat, lon, tau_min=5, tau_max=100)
    assert s2cell.token_to_level(part.keys[0]) == 2


def test_official_csv_round_trip(parts, tmp_path):
    paths = write_s2_partitionings(parts, tmp_path)
    assert [p.name for p in paths] == [f"cells_{TAU_MIN}_{t}.csv" for t in TAU_MAX]
    lines = paths[0].read_text().splitlines()
    assert lines[2] == "class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean"
    import pandas as pd  # the release reads them with pandas, skiprows=2, index_col=class_label

    df = pd.read_csv(paths[0], skiprows=2, index_col="class_label")
    assert list(df["hex_id"]) == parts[0].keys
    again = read_s2_partitionings(tmp_path)
    for a, b in zip(parts, again):
        assert a.keys == b.keys and np.allclose(a.lat, b.lat) and (a.counts == b.counts).all()
        assert (a.parent == b.parent).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(tau_min=50, tau_max=(40,)), "tau_min"),
    (dict(tau_max=(100, 100)), "distinct"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_s2_partitionings([1.0], [2.0], **kwargs)


def test_bad_coordinates_and_files(tmp_path):
    with pytest.raises(ValueError, match="out of range"):
        build_s2_partitionings([95.0], [0.0])
    bad = tmp_path / "cells_50_100.csv"
    bad.write_text("class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean\n0,zz,60,1,2\n")
    with pytest.raises(ValueError, match="cells_50_100.csv.*not an S2 cell token"):
        read_s2_partitionings(tmp_path)
