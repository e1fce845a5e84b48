"""The report states its prediction protocol; --views test-time scores rows from the test-time crops;
the driver learns the view without building the model."""
import json

import pandas as pd
import pytest
from _report_helpers import BASE_ARGS
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.io.images import load_image
from geoxai.report.config import ReportConfig
from geoxai.report.store import PartStore
from geoxai.report.worker import report_view_config
from geoxai.testing import TinyGeoModel
from geoxai.views import ViewConfig


def test_test_time_report_rows_use_the_test_time_crops_and_say_so(dataset, reference_report, tmp_path):
    out = tmp_path / "tt"
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--model-option", "test_time_crops=five",
                                       "--views", "test-time", "--data", str(dataset), "--out", str(out),
                                       "--workers", "0", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "accuracy (test-time views)" in result.output
    assert json.loads((out / "config.json").read_text())["views"] == "test-time"
    assert json.loads((out / "summary.json").read_text())["views"] == "test-time"
    assert set(pd.read_csv(out / "summary.csv")["views"]) <= {"test-time"}
    assert "Geolocation accuracy (test-time-view predictions)" in (out / "report.html").read_text()
    rows = PartStore(out).read_images().set_index("image_id")
    model = TinyGeoModel(test_time_crops="five")
    for image_id in ("img000", "img005"):
        expected = model.predict([load_image(rows.loc[image_id, "path"])], views="test-time")[0]
        assert rows.loc[image_id, "pred_cell"] == expected.cell
        assert rows.loc[image_id, "pred_prob"] == pytest.approx(expected.probability, rel=1e-5)
    # the default protocol is the single explained view, and an old folder reads as such
    assert json.loads((reference_report / "config.json").read_text())["views"] == "single"
    assert json.loads((reference_report / "summary.json").read_text())["views"] == "single"
    assert "single-view predictions" in (reference_report / "summary.md").read_text()


def test_changing_the_protocol_of_a_report_folder_is_refused(dataset, reference_report):
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--views", "test-time", "--data", str(dataset),
                                       "--out", str(reference_report), "--workers", "0", "--quiet"])
    assert result.exit_code != 0 and "views: 'single' -> 'test-time'" in result.output


def test_report_view_is_read_without_building_the_model(monkeypatch):
    monkeypatch.setattr(TinyGeoModel, "__init__", lambda *a, **k: pytest.fail("the driver built the model"))
    config = ReportConfig(model="tiny", explainer="gradcam", segmenter="tiny", model_options={"input_size": 48})
    assert report_view_config(config) == ViewConfig.for_crop(48)
