"""``geoxai quality`` with the tiny model: it runs, resumes, shards and writes every output."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.quality.store import QualityStore
from geoxai.testing import TINY_CITIES, synthetic_photo

ARGS = ["--model", "tiny", "-e", "gradcam", "--steps", "4", "--sanity-stages", "2", "--part-size", "1",
        "--batch-size", "1", "--quiet", "--k", "100"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quality-data")
    rows = []
    for i in range(3):
        Image.fromarray(synthetic_photo(50 + i, 64, 80)).save(folder / f"p{i}.png")
        _, _, lat, lon, _ = TINY_CITIES[i]
        rows.append((f"p{i}.png", lat, lon, f"img{i}"))
    with open(folder / "data.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "lat", "lon", "id"])
        writer.writerows(rows)
    return folder / "data.csv"


def _run(args) -> None:
    result = CliRunner().invoke(main, ["quality", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _rows(out: Path, folder: str = "gradcam") -> pd.DataFrame:
    rows = QualityStore(out / folder).read_images().drop(columns=["shard"])
    return rows.sort_values("image_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quality-ref") / "q"
    _run([*ARGS, "--data", str(dataset), "--out", str(out)])
    return out


def test_writes_every_output(reference):
    for name in ("summary.csv", "summary.json", "summary.md", "quality.html", "plots/deletion.png",
                 "plots/insertion.png", "config.json"):
        assert (reference / name).is_file(), name
    assert {p.name for p in reference.iterdir() if (p / "explainer.json").exists()} == {
        "gradcam", "baseline-smooth-random", "baseline-centre-bias"}
    rows = _rows(reference)
    assert list(rows.image_id) == ["img0", "img1", "img2"] and (rows.status == "ok").all()
    assert rows.deletion_most_auc.notna().all() and rows.deletion_most_mass_truth_auc.notna().all()
    sanity = json.loads(rows.sanity[0])
    assert sanity["stages"] == ["output", "stage3"] and len(sanity["spearman"]) == 2
    curves = QualityStore(reference / "gradcam").read_concepts()
    assert set(curves.kind) == {"deletion", "insertion"} and set(curves.order) == {"most"}
    assert len(curves) == 3 * 2 * 5  # images x kinds x (steps + 1)
    summary = json.loads((reference / "summary.json").read_text())
    mean, lo, hi = summary["gradcam"]["deletion_most_auc_norm"]
    assert lo <= mean <= hi
    assert "gradcam" in (reference / "summary.md").read_text()
    page = (reference / "quality.html").read_text()
    assert "<script" not in page and "http" not in page.split("</style>")[1]


def test_a_rerun_computes_nothing_and_a_lost_part_is_recomputed(reference, dataset, tmp_path):
    import shutil

    out = tmp_path / "q"
    shutil.copytree(reference, out)
    parts = sorted((out / "gradcam" / "images").glob("part-*.parquet"))
    assert len(parts) == 3  # --part-size 1
    _run([*ARGS, "--data", str(dataset), "--out", str(out)])
    assert sorted((out / "gradcam" / "images").glob("part-*.parquet")) == parts
    # a kill between the two renames of a part: the curves file is there, the images file is not
    parts[1].unlink()
    (out / "gradcam" / "images" / ".part-half.parquet.tmp").write_bytes(b"half")
    _run([*ARGS, "--data", str(dataset), "--out", str(out)])
    pd.testing.assert_frame_equal(_rows(out), _rows(reference))
    curves = QualityStore(out / "gradcam").read_concepts()
    assert len(curves) == len(QualityStore(reference / "gradcam").read_concepts())  # no duplicate curves
    assert not list((out / "gradcam" / "images").glob(".*.tmp"))


def test_shards_into_one_folder_equal_one_run(reference, dataset, tmp_path):
    out = tmp_path / "q"
    for shard in ("0/2", "1/2"):
        _run([*ARGS, "--data", str(dataset), "--out", str(out), "--shard", shard, "--no-baselines"])
    pd.testing.assert_frame_equal(_rows(out), _rows(reference))


def _curves(out: Path, folder: str = "gradcam") -> pd.DataFrame:
    curves = QualityStore(out / folder).read_concepts()
    return curves.sort_values(["image_id", "kind", "order", "step"]).reset_index(drop=True)


def test_ray_engine_rows_equal_local_engine(reference, dataset, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'geoxai[ray]')")
    from geoxai.testing import TinyGeoModel

    # the driver reads the view from the model's class; only the actors (own processes) build models
    monkeypatch.setattr(TinyGeoModel, "__init__", lambda *a, **k: pytest.fail("the Ray driver built the model"))
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        _run([*ARGS, "--data", str(dataset), "--out", str(out), "--engine", "ray", "--replicas", "1"])
    finally:
        ray.shutdown()
    for folder in ("gradcam", "baseline-smooth-random", "baseline-centre-bias"):
        pd.testing.assert_frame_equal(_rows(out, folder).drop(columns=["path"]),
                                      _rows(reference, folder).drop(columns=["path"]), check_exact=False, rtol=1e-6)
        pd.testing.assert_frame_equal(_curves(out, folder), _curves(reference, folder), check_exact=False, rtol=1e-6)
    assert (out / "summary.md").read_text() == (reference / "summary.md").read_text()


def test_an_unknown_explainer_or_option_binds_no_folder(dataset, tmp_path):
    for extra, message in ((["-e", "nosuch"], "nosuch"), (["--explainer-option", "gradcam:nosuch=1"], "nosuch")):
        out = tmp_path / "q"
        result = CliRunner().invoke(main, ["quality", *ARGS, *extra, "--data", str(dataset), "--out", str(out)])
        assert result.exit_code != 0 and message in result.output
        assert not out.exists()


def test_other_settings_in_the_same_folder_are_refused(reference, dataset):
    result = CliRunner().invoke(main, ["quality", *ARGS, "--steps", "6", "--data", str(dataset),
                                       "--out", str(reference)])
    assert result.exit_code != 0 and "other settings" in result.output and "steps" in result.output


def test_bad_input_is_one_line(dataset, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["quality", *ARGS, "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "either IMAGES or --data" in result.output
    result = runner.invoke(main, ["quality", *ARGS, "--data", str(dataset), "--out", str(tmp_path / "y"),
                                  "--explainer-option", "lrp:epsilon=1"])
    assert result.exit_code != 0 and "not among --explainer" in result.output
    result = runner.invoke(main, ["quality", *ARGS, "--data", str(dataset), "--out", str(tmp_path / "z"),
                                  "--target", "nowhere:1"])
    assert result.exit_code != 0 and "invalid target" in result.output


def test_images_without_truth(tmp_path):
    for i in range(2):
        Image.fromarray(synthetic_photo(i, 64, 64)).save(tmp_path / f"a{i}.png")
    out = tmp_path / "q"
    _run([*ARGS, "--no-baselines", "--sanity-stages", "-1", str(tmp_path / "a0.png"), str(tmp_path / "a1.png"),
          "--out", str(out)])
    rows = _rows(out)
    assert rows.deletion_most_mass_truth_auc.isna().all() and rows.sanity.isna().all()
    assert np.isfinite(rows.deletion_most_auc).all()


def test_report_with_quality_adds_the_table(dataset, tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(main, ["report", "--model", "tiny", "--explainer", "gradcam", "--segmenter", "tiny",
                                       "--data", str(dataset), "--out", str(out), "--k", "100", "--min-images", "1",
                                       "--workers", "0", "--quiet", "--quality", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    markdown = (out / "summary.md").read_text()
    assert "# Concept influence" in markdown and "# Explanation quality" in markdown
    assert "| gradcam | 2 |" in markdown and "baseline-smooth-random" in markdown
    page = (out / "report.html").read_text()
    assert page.count("<h2>Explanation quality</h2>") == 1 and "quality/quality.html" in page
    assert (out / "quality" / "quality.html").is_file()
    assert len(QualityStore(out / "quality" / "gradcam").read_images()) == 2


def test_the_ray_engine_refuses_a_bad_model_option_before_binding(dataset, tmp_path):
    out = tmp_path / "q"
    result = CliRunner().invoke(main, ["quality", *ARGS, "--engine", "ray", "--data", str(dataset), "--out", str(out),
                                       "--model-option", "bogus=1"])
    assert result.exit_code != 0 and "bogus" in result.output and not out.exists()
