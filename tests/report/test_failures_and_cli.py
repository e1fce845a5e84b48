"""Broken images become failed rows with reasons; the command's help and usage errors."""
import json

import pandas as pd
from _report_helpers import BASE_ARGS, make_dataset, read_rows
from click.testing import CliRunner

from geoxai.cli import main


def test_corrupt_and_missing_images_are_recorded_as_failed(tmp_path):
    data = make_dataset(tmp_path / "data", n=8, broken=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(data), "--out", str(out),
                                       "--workers", "2", "--batch-size", "3"])
    assert result.exit_code == 1, result.output  # some images failed: exit status 1
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


def test_retry_failed_recomputes_fixed_images_only_when_asked(tmp_path):
    data = make_dataset(tmp_path / "data", n=4, broken=True)
    out = tmp_path / "out"
    args = ["report", *BASE_ARGS, "--data", str(data), "--out", str(out), "--workers", "0",
            "--batch-size", "3", "--part-size", "2", "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 1
    # the missing file appears; the corrupt and the truncated ones stay broken (a failed image
    # whose file changed is computed again by a plain resume: test_changed_images.py)
    (data.parent / "missing.jpg").write_bytes((data.parent / "p1.jpg").read_bytes())
    assert CliRunner().invoke(main, args).exit_code == 1
    images, _ = read_rows(out)
    assert images.set_index("image_id").loc["missing", "status"] == "failed"  # a plain resume skips it

    result = CliRunner().invoke(main, [*args, "--retry-failed"])
    assert result.exit_code == 1, result.output
    images, concepts = read_rows(out)
    assert not images.image_id.duplicated().any() and len(images) == 7
    status = images.set_index("image_id").status
    assert status["missing"] == "ok" and status["garbage"] == status["truncated"] == "failed"
    assert concepts.image_id.eq("missing").any()
    assert not list(out.rglob("*.tmp"))
    # the fixed image's rows equal those of the image whose bytes it now has
    ok = concepts.set_index("image_id")
    pd.testing.assert_frame_equal(ok.loc[["missing"]].reset_index(drop=True), ok.loc[["img001"]].reset_index(drop=True))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["failed"] == 2


def test_forget_failed_leaves_no_empty_parts(tmp_path):
    from geoxai.report.store import PartStore

    store = PartStore(tmp_path)
    store.prepare()
    row = {"image_id": "a", "path": "a.jpg", "lat": 0.0, "lon": 0.0, "status": "failed", "error": "gone"}
    only_failed = store.write_part([row], [])
    mixed = store.write_part([{**row, "image_id": "b"}, {**row, "image_id": "c", "status": "ok", "error": None}],
                             [{"image_id": "c", "concept": "sky", "concept_index": 2, "ci": 0.5, "tki": 0.1,
                               "size": 0.2, "valid": True}])
    assert store.forget_failed({"a", "c"}) == 1  # only failed rows of the given ids
    assert store.part_names() == [mixed] and not (store.concepts_dir / only_failed).exists()
    assert store.finished_ids() == {"b", "c"}
    assert store.forget_failed() == 1
    assert store.finished_ids() == {"c"} and len(store.read_concepts()) == 1


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
