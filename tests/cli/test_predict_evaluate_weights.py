import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.geodesy import great_circle_km
from geoxai.hookspecs import hookimpl
from geoxai.io.images import load_image
from geoxai.plugins import register_plugin
from geoxai.testing import TinyGeoModel
from geoxai.weights import WeightFile


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_every_command_has_help():
    for name in main.commands:
        result = run(name, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, name


def test_predict_prints_and_skips_bad_images(photo_files, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    result = CliRunner().invoke(main, ["predict", "--model", "tiny", "--json", "--top-k", "2",
                                       str(photo_files[0]), str(bad), str(photo_files[1])])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and len(lines[0]["top_k"]) == 2
    expected = TinyGeoModel().predict([load_image(photo_files[0])])[0]
    assert lines[0]["cell"] == expected.cell and lines[0]["label"] == expected.label
    assert "bad.jpg: not an image" in result.stderr


def test_unknown_model_is_one_line_error(photo_files):
    result = CliRunner().invoke(main, ["predict", "--model", "nope", str(photo_files[0])])
    assert result.exit_code == 1 and "unknown model 'nope'; known models:" in result.output


def test_evaluate_matches_independent_accuracy(photo_files, tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    model = TinyGeoModel()
    for p in photo_files * 3:
        rows.append((p, *rng.uniform([-60, -180], [60, 180])))
    # put some ground truths right next to the model's prediction so several radii are non-trivial
    preds = [model.predict([load_image(p)])[0] for p, *_ in rows]
    for i in range(0, len(rows), 2):
        rows[i] = (rows[i][0], preds[i].lat + 0.05 * (i % 3), preds[i].lon + 1.5 * (i % 4))
    df = pd.DataFrame([{"image": p.name, "lat": la, "lon": lo, "id": f"r{i}"} for i, (p, la, lo) in enumerate(rows)])
    df.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "eval"
    result = run("evaluate", "--model", "tiny", "--data", tmp_path / "data.csv", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    d = np.array([great_circle_km(la, lo, p.lat, p.lon) for (_, la, lo), p in zip(rows, preds)])
    saved = json.loads((out / "accuracy.json").read_text())
    for r in (1, 25, 200, 750, 2500):
        assert saved["accuracy"][str(r)] == pytest.approx(np.mean(d < r))
    assert 0 < saved["accuracy"]["2500"] < 1  # the case exercises both sides of the threshold
    table = pd.read_csv(out / "accuracy.csv")
    assert list(table.columns) == ["model", "1 km", "25 km", "200 km", "750 km", "2500 km", "images", "views"]
    assert "a_r [%] @ km" in result.output and "tiny" in result.output


def test_evaluate_reports_failed_images_and_bad_csv(photo_files, tmp_path):
    pd.DataFrame({"image": [photo_files[0].name, "missing.jpg"], "lat": [1, 2], "lon": [3, 4]}).to_csv(
        tmp_path / "d.csv", index=False)
    result = CliRunner().invoke(main, ["evaluate", "--model", "tiny", "--data", str(tmp_path / "d.csv"),
                                       "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 1  # an image failed: the others are evaluated
    assert "1 image(s) failed" in result.stderr and "missing.jpg: file not found" in result.stderr
    assert pd.read_csv(tmp_path / "o" / "failed.csv")["id"].tolist() == ["missing.jpg"]
    (tmp_path / "bad.csv").write_text("image,latitude\nx.jpg,1\n")
    result = CliRunner().invoke(main, ["evaluate", "--model", "tiny", "--data", str(tmp_path / "bad.csv")])
    assert result.exit_code == 1 and "bad.csv: missing column(s) lon" in result.output


def test_weights_commands(tmp_path):
    src = tmp_path / "file.bin"
    src.write_bytes(b"x" * 10)

    class P:
        @hookimpl
        def register_weights(self, register):
            register(WeightFile("cli-test", src.as_uri(), "file.bin", size=10, description="test file"))
    register_plugin(P(), "cli-test-dist")
    assert "cli-test  [not downloaded; no published checksum]" in run("weights", "list").output
    path = run("weights", "path", "cli-test").stdout.strip()
    assert run("weights", "download", "cli-test").stdout.strip() == path
    assert open(path, "rb").read() == b"x" * 10
    assert "cli-test  [cached" in run("weights", "list").output
    result = CliRunner().invoke(main, ["weights", "path", "nope"])
    assert result.exit_code == 1 and "unknown weight file 'nope'" in result.output
