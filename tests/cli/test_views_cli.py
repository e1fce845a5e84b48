"""Every command says which prediction protocol (single view or test-time crops) it used."""
import json

import pandas as pd
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.io.images import load_image
from geoxai.testing import TinyGeoModel

FIVE = ["--model-option", "test_time_crops=five"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_predict_json_records_the_protocol(photo_files):
    model = TinyGeoModel(test_time_crops="five")
    image = load_image(photo_files[0])
    for views in ("test-time", "single"):
        result = run("predict", "--model", "tiny", *FIVE, "--json", "--views", views, photo_files[0])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        expected = model.predict([image], views=views)[0]
        assert doc["views"] == views and doc["probability"] == expected.probability
    text = run("predict", "--model", "tiny", photo_files[0]).stdout
    assert "[test-time views]" in text.splitlines()[0]


def test_explain_json_prediction_is_the_explained_single_view(photo_files, tmp_path):
    out = tmp_path / "out"
    result = run("explain", "--model", "tiny", *FIVE, "-e", "gradcam", "--test-time", "--out", out, *photo_files[:2])
    assert result.exit_code == 0, result.output
    model = TinyGeoModel(test_time_crops="five")
    images = [load_image(p) for p in photo_files[:2]]
    single = model.predict(model.prepare(images), top_k=5)
    test_time = model.predict(images, top_k=5, views="test-time")
    for i, path in enumerate(photo_files[:2]):
        doc = json.loads((out / f"{path.stem}.json").read_text())
        assert doc["views"] == "single" and doc["prediction"]["views"] == "single"
        assert doc["prediction"]["probability"] == single[i].probability
        assert doc["test_time_prediction"]["views"] == "test-time"
        assert doc["test_time_prediction"]["probability"] == test_time[i].probability


def test_evaluate_views_option_is_recorded_in_every_output(photo_files, tmp_path):
    pd.DataFrame([{"image": p.name, "lat": 10.0 + i, "lon": 20.0} for i, p in enumerate(photo_files)]).to_csv(
        tmp_path / "data.csv", index=False)
    probabilities = {}
    for views in ("test-time", "single"):
        out = tmp_path / views
        result = run("evaluate", "--model", "tiny", *FIVE, "--data", tmp_path / "data.csv", "--out", out,
                     "--quiet", "--views", views)
        assert result.exit_code == 0, result.output
        assert views in result.stdout.splitlines()[-1]
        assert json.loads((out / "accuracy.json").read_text())["views"] == views
        assert pd.read_csv(out / "accuracy.csv")["views"].tolist() == [views]
        predictions = pd.read_csv(out / "predictions.csv")
        assert set(predictions["views"]) == {views}
        probabilities[views] = predictions["probability"].tolist()
    assert probabilities["single"] != probabilities["test-time"]
