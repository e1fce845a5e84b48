"""top_countries and country:/continent: targets through the CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from geoxai.cli import main


def test_predict_json_carries_top_countries(photo_files):
    result = CliRunner().invoke(main, ["predict", "-m", "tiny", "--json", str(photo_files[0])])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.splitlines()[0])
    top = doc["top_countries"]
    assert len(top["countries"]) == 8 and top["ocean"] == 0.0
    assert sum(c["probability"] for c in top["countries"]) == pytest.approx(1.0, abs=1e-5)
    assert {c["name"] for c in top["continents"]} == {"Europe", "Asia", "Oceania", "North America", "South America"}


def test_explain_a_country_target_and_its_json(photo_files, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "-m", "tiny", "-e", "gradcam",
                                       "--target", "country:Japan", "--map", "world", "-O", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "photo0.json").read_text())
    assert doc["target"] == "country:JP" and doc["prediction"]["top_countries"]["countries"]
    assert (out / "photo0_map.png").is_file()


def test_unknown_country_is_one_line_error_with_suggestion(photo_files, tmp_path):
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "-m", "tiny", "--target", "country:Frnace",
                                       "-O", str(tmp_path / "o")])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["Error: unknown country 'Frnace'; did you mean 'France'?"]
