"""Broken images become failed rows with reasons; the command's help and usage errors."""
import json

import pandas as pd
from click.testing import CliRunner

from geoxai.cli import main

from _report_helpers import BASE_ARGS, make_dataset, read_rows


def test_corrupt_and_missing_images_are_recorded_as_failed(tmp_path):
    data = make_dataset(tmp_path / "data", n=8, broken=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(data), "--out", str(out),
                                       "--workers", "2", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "11 images (8 explained, 3 failed)" in result.output
    images, concepts = read_rows(out)
    failed = images[images.status == "failed"].set_index("image_id")
    assert sorted(failed.index) == ["garbage", "missing", "truncated"]
    assert "file not found" in failed.loc["missing", "error"]
    assert "not an image" in failed.loc["garbage", "error"]
    assert "truncated" in failed.loc["truncated", "error"] or "unreadable" in failed.loc["truncated", "error"]
    assert failed.pred_cell.isna().all() and not concepts.image_id.isin(failed.index).any()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["failed"] == 3
    assert {f["image_id"] for f in summary["failed"]} == {"garbage", "missing", "truncated"}
    assert "Failed images (3)" in (out / "report.html").read_text()


def test_help_lists_run_options_and_merge():
    result = CliRunner().invoke(main, ["report", "--help"])
    assert result.exit_code == 0
    for word in ("--model", "--shard", "--engine", "--min-images", "merge"):
        assert word in result.output
    assert "DIRS..." in CliRunner().invoke(main, ["report", "merge", "--help"]).output


def test_missing_options_and_bad_values_are_one_line_errors(tmp_path):
    result = CliRunner().invoke(main, ["report", "--model", "tiny"])
    assert result.exit_code == 2 and "missing --explainer, --segmenter, --data, --out" in result.output
    data = make_dataset(tmp_path / "d", n=2)
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(data), "--out", str(tmp_path / "o"),
                                       "--shard", "3/2"])
    assert result.exit_code != 0 and "shard '3/2'" in result.output
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(tmp_path / "nope.csv"),
                                       "--out", str(tmp_path / "o2")])
    assert result.exit_code != 0 and "nope.csv" in result.output and result.output.strip().count("\n") == 0
