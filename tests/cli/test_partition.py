"""``geoxai partition build`` end to end: CSV -> files -> the models load them."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import geoxai
from geoxai.cli import main

CITIES = {"barcelona": (41.39, 2.17, 40), "madrid": (40.42, -3.70, 30), "paris": (48.86, 2.35, 30),
          "new_york": (40.71, -74.00, 20)}


@pytest.fixture
def coords_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["img_id,latitude,longitude"]
    for name, (lat, lon, n) in CITIES.items():
        for i in range(n):
            rows.append(f"{name}_{i}.jpg,{lat + rng.normal(0, 0.01):.6f},{lon + rng.normal(0, 0.01):.6f}")
    path = tmp_path / "coords.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_semp_build_writes_files_the_model_loads(tmp_path, coords_csv):
    out = tmp_path / "semp"
    result = CliRunner().invoke(main, ["partition", "build", "--kind", "semp", "--coords", str(coords_csv),
                                       "--out", str(out), "--tau-d", "3", "--tau-min", "5,10,20", "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "semp.json").read_text())
    assert manifest["tau_min"] == [20, 10, 5] and manifest["tau_d"] == 3 and manifest["geocoder"] == "offline"
    assert all((out / f).is_file() for f in manifest["partitionings"] + ["hierarchy.csv"])
    model = geoxai.load_model("semp", pretrained=False, partitions=out, input_size=64)
    assert [p.name for p in model.partitionings] == ["semp_20", "semp_10", "semp_5"]
    assert len(model.partitionings[0]) <= len(model.partitionings[1]) <= len(model.finest)
    labels = model.finest.labels
    assert any(label.endswith("Spain") for label in labels) and any(label.endswith("United States") for label in labels)
    spain = model.region_cells("ES").tolist()
    assert spain == model.region_cells("Spain").tolist()
    assert spain and all(model.finest.keys[i].split("/")[0] == "ES" for i in spain)
    # every used photo has a class at every level; the public target mapping says so too
    mapping = json.loads((out / "target_mapping.json").read_text()) if manifest["public_format"] else {}
    assert not mapping or all(len(v) == 3 and min(v) >= 0 for v in mapping.values())
    assert not mapping or "barcelona_0.jpg" in mapping


def test_s2_build_writes_files_the_s2_model_loads(tmp_path, coords_csv):
    out = tmp_path / "s2"
    result = CliRunner().invoke(main, ["partition", "build", "--kind", "s2", "--coords", str(coords_csv),
                                       "--out", str(out), "--tau-min", "2", "--tau-max", "60,30,10"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.csv")) == ["cells_2_10.csv", "cells_2_30.csv", "cells_2_60.csv"]
    model = geoxai.load_model("s2", pretrained=False, partitions=out, input_size=64)
    assert len(model.partitionings) == 3 and len(model.finest) >= len(model.partitionings[0])


@pytest.mark.parametrize("content,message", [
    ("x,y\n1,2\n", "missing column(s) lat, lon; found x, y"),
    ("lat,lon\n91,2\n", "out of range"),
    ("lat,lon\nabc,2\n", "bad.csv:2: lat 'abc' is not a number"),
    ("lat,lon\n1,2\n3\n", "bad.csv:3: row has 1 field(s) but the header has 2"),
])
def test_bad_coordinates_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = CliRunner().invoke(main, ["partition", "build", "--kind", "semp", "--coords", str(path),
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert message in result.output and str(path) in result.output
    assert result.output.strip().count("\n") == 0


def test_option_mistakes_are_reported(tmp_path, coords_csv):
    runner = CliRunner()
    r = runner.invoke(main, ["partition", "build", "--kind", "semp", "--coords", str(coords_csv), "--out",
                             str(tmp_path / "o"), "--geocoder", "nominatim"])
    assert r.exit_code != 0 and "needs the URL of your own Nominatim server" in r.output
    r = runner.invoke(main, ["partition", "build", "--kind", "s2", "--coords", str(coords_csv), "--out",
                             str(tmp_path / "o"), "--tau-d", "5"])
    assert r.exit_code != 0 and "--tau-d applies to --kind semp only" in r.output
    r = runner.invoke(main, ["partition", "build", "--kind", "semp", "--coords", str(tmp_path / "missing.csv"),
                             "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "coordinates file does not exist" in r.output
    r = runner.invoke(main, ["partition", "build", "--kind", "semp", "--coords", str(coords_csv), "--out",
                             str(tmp_path / "o"), "--tau-min", "1000"])
    assert r.exit_code != 0 and "no location has 1000 samples" in r.output


def test_coordinates_accept_the_same_column_aliases_as_datasets(tmp_path):
    """``evaluate`` reads lat,lng; ``partition build`` must read the same file (one reader)."""
    from geoxai.io.datasets import read_coordinates

    path = tmp_path / "coords.csv"
    path.write_text("image_id,Latitude,lng\n007,41.39,2.17\nNA,48.86,2.35\n")
    lat, lon, ids = read_coordinates(path)
    assert lat.tolist() == [41.39, 48.86] and lon.tolist() == [2.17, 2.35]
    assert ids == ["007", "NA"]  # strings as written: no int or NaN guessing
    result = CliRunner().invoke(main, ["partition", "build", "--kind", "s2", "--coords", str(path),
                                       "--out", str(tmp_path / "o"), "--tau-min", "1", "--tau-max", "5"])
    assert result.exit_code == 0, result.output
