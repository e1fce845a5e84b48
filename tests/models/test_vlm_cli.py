"""``geoxai explain`` with the vlm model against the fake server: occlusion, rise, concept-shap, failures."""
from __future__ import annotations

import json

import numpy as np
import pytest
from _fake_openai import FakeServer
from click.testing import CliRunner

from geoxai.cli import main


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def explain(server, photo_files, out, *args):
    model = ["--model", "vlm", "--model-option", f"url={server.url}", "--model-option", "model=fake-vl",
             "--model-option", "max_side=32", "--model-option", "api_key_env=MY_KEY"]
    return CliRunner().invoke(main, ["explain", *model, *args, *map(str, photo_files), "--out", str(out)])


def test_explain_occlusion_rise_and_concept_shap(server, photo_files, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test-secret")
    out = tmp_path / "out"
    result = explain(server, photo_files[:2], out, "-e", "occlusion", "-o", "fill=mean")
    assert result.exit_code == 0, result.output
    doc = json.loads((out / f"{photo_files[0].stem}.json").read_text())
    assert doc["model"] == "vlm" and doc["explainer"] == "occlusion" and doc["options"]["fill"] == "mean"
    assert doc["prediction"]["lat"] == 48.85 and doc["explainer_info"]["calls"] == 50
    assert np.load(out / f"{photo_files[0].stem}.npy").shape == (32, 32)
    assert "sk-test-secret" not in (out / f"{photo_files[0].stem}.json").read_text()
    paid = len(server.requests)
    result = explain(server, photo_files[:2], tmp_path / "again", "-e", "occlusion", "-o", "fill=mean")
    assert result.exit_code == 0 and len(server.requests) == paid  # a rerun into another folder: all cached
    result = explain(server, photo_files[:1], out, "-e", "rise", "-o", "n_masks=8")
    assert result.exit_code == 0, result.output
    result = explain(server, photo_files[:1], out, "-e", "concept-shap", "-s", "tiny",
                     "--segmenter-option", "num_concepts=3")
    assert result.exit_code == 0, result.output
    doc = json.loads((out / f"{photo_files[0].stem}.json").read_text())
    assert doc["explainer_info"]["mode"] == "exact" and doc["explainer_info"]["concepts"]


def test_refusals_and_no_coordinate_answers(server, photo_files, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test-secret")
    result = explain(server, photo_files[:1], tmp_path / "o", "-e", "gradcam")
    assert result.exit_code != 0 and "gradcam" in result.output and "vlm" in result.output
    result = explain(server, photo_files[:1], tmp_path / "o", "-e", "concept-shap")
    assert result.exit_code != 0 and "-s" in result.output
    server.lose_first_answer()  # images go one by one: the first request is photo0's clean view
    out = tmp_path / "partial"
    result = explain(server, photo_files[:4], out, "-e", "occlusion", "-o", "window=16", "-o", "stride=16")
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("error:")]
    written = sorted(p.stem for p in out.glob("*.npy"))
    assert len(failed) == 1 and "photo0" in failed[0] and "no coordinates" in failed[0]
    assert written == ["photo1", "photo2", "photo3"]


def test_wrong_key_is_one_line_without_the_key(server, photo_files, tmp_path, monkeypatch):
    server.key = "right-key"
    monkeypatch.setenv("MY_KEY", "sk-wrong-secret")
    result = explain(server, photo_files[:1], tmp_path / "o", "-e", "occlusion", "--quiet")
    assert result.exit_code == 1
    assert "MY_KEY" in result.output and "401" in result.output and "sk-wrong" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
