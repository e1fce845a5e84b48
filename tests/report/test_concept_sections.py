"""The report's concept sections: concept Shapley values beside gradient ci (``--shapley``) with
their agreement, recomputed here from the rows; the cue table of a segmenter with cue concepts
(``-s tiny+text`` on photos with a drawn sign); older parts without the new columns still read."""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont
from scipy.stats import spearmanr

from geoxai.cli import main
from geoxai.report.store import PartStore


def test_shapley_values_beside_gradcam_and_their_agreement(dataset, tmp_path):
    out = tmp_path / "rep"
    args = ["report", "--model", "tiny", "--explainer", "gradcam", "--segmenter", "tiny", "--segmenter-option",
            "num_concepts=4", "--shapley", "--min-size", "0.02", "--k", "300", "--min-images", "1",
            "--data", str(dataset), "--out", str(out), "--workers", "0", "--batch-size", "8", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    concepts = PartStore(out).read_concepts()
    assert concepts["shapley_share"].notna().all() and concepts["km_removed"].notna().all()
    for _, group in concepts.groupby("image_id"):  # every present concept is a player: |shares| sum to 1
        assert group["shapley_share"].abs().sum() == pytest.approx(1.0)
    # the agreement, recomputed from the rows with scipy
    per_image = pd.read_csv(out / "agreement.csv").set_index("image_id")
    expected, pooled_ci, pooled_share = {}, [], []
    for image_id, group in concepts.groupby("image_id"):
        valid = group[group["valid"]]
        pooled_ci += valid["ci"].tolist()
        pooled_share += valid["shapley_share"].tolist()
        if len(valid) >= 3 and valid["ci"].nunique() > 1 and valid["shapley_share"].nunique() > 1:
            expected[image_id] = spearmanr(valid["ci"], valid["shapley_share"]).statistic
    assert len(expected) >= 5
    got = per_image["spearman"].dropna()
    assert sorted(got.index) == sorted(expected) and np.allclose([expected[i] for i in got.index], got.values)
    summary = (out / "summary.md").read_text()
    assert "# Concept Shapley values" in summary and "# Agreement of gradcam ci with Shapley shares" in summary
    mean_row = next(line for line in summary.splitlines() if line.startswith("| per image (mean)"))
    assert mean_row == f"| per image (mean) | {len(expected)} | {np.mean(list(expected.values())):.2f} |"
    pooled_row = next(line for line in summary.splitlines() if line.startswith("| all (image, concept) pairs"))
    assert pooled_row.endswith(f"| {spearmanr(pooled_ci, pooled_share).statistic:.2f} |")
    html = (out / "report.html").read_text()
    assert "Agreement of gradcam ci with Shapley shares" in html and 'href="agreement.csv"' in html

    # a part written before the columns existed still reads (nulls), and its images drop out of the tables
    store = PartStore(out)
    part = sorted(store.concepts_dir.glob("part-*.parquet"))[0]
    pq.write_table(pq.read_table(part).drop(["cue", "shapley", "shapley_share", "km_removed"]), part)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert PartStore(out).read_concepts()["shapley_share"].isna().any()


def test_gradcam_without_shapley_has_no_such_sections(reference_report):
    summary = (reference_report / "summary.md").read_text()
    assert "Shapley" not in summary and "Cues by true country" not in summary
    assert PartStore(reference_report).read_concepts()["shapley_share"].isna().all()


def sign_photo(text: str | None) -> Image.Image:
    """A 320x320 photo with (or without) a white-on-green street sign in the middle."""
    from skimage import data

    photo = Image.fromarray(data.rocket()).resize((320, 320))
    if text:
        draw = ImageDraw.Draw(photo)
        draw.rectangle([20, 120, 300, 190], fill=(20, 90, 40))
        draw.text((35, 135), text, fill=(255, 255, 255), font=ImageFont.load_default(size=36))
    return photo


def test_the_cue_table_of_a_segmenter_with_cue_concepts(tmp_path):
    pytest.importorskip("rapidocr")
    pytest.importorskip("onnxruntime")
    rows = [("de1.png", "STRASSE 12", 52.52, 13.40), ("de2.png", "BAHNHOF 3", 48.14, 11.58),
            ("fr.png", "RUE 7", 48.86, 2.35), ("none.png", None, 40.42, -3.70)]
    for name, text, _, _ in rows:
        sign_photo(text).save(tmp_path / name)
    data = tmp_path / "data.csv"
    with open(data, "w", newline="") as fh:
        csv.writer(fh).writerows([("image", "lat", "lon"), *[(n, lat, lon) for n, _, lat, lon in rows]])
    out = tmp_path / "rep"
    result = CliRunner().invoke(main, [
        "report", "--model", "tiny", "--model-option", "input_size=320", "--explainer", "gradcam",
        "--segmenter", "tiny+text", "--segmenter-option", "tiny.num_concepts=3", "--min-size", "0.01",
        "--min-images", "1", "--data", str(data), "--out", str(out), "--workers", "0", "--batch-size", "4",
        "--quiet"])
    assert result.exit_code == 0, result.output
    concepts = PartStore(out).read_concepts()
    assert set(concepts.loc[concepts["cue"], "concept"]) == {"text"}
    cues = pd.read_csv(out / "cues.csv", keep_default_na=False)
    assert cues[["concept", "true_country", "images"]].values.tolist() == [["text", "DE", 2], ["text", "FR", 1]]
    summary = (out / "summary.md").read_text()
    assert "# Cues by true country" in summary and "| text | Germany (DE) | 2 |" in summary


def test_a_batch_explained_in_one_call_gives_the_rows_of_image_by_image(dataset, reference_report, tmp_path,
                                                                         monkeypatch):
    # on the CPU (every test) the report explains image by image for per-image progress; on a GPU
    # the batch goes in one call: the same rows
    from _report_helpers import BASE_ARGS, assert_same_rows

    from geoxai.report.worker import ReportWorker

    monkeypatch.setattr(ReportWorker, "_explain_each", lambda self: False)
    out = tmp_path / "batched"
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out),
                                       "--workers", "0", "--batch-size", "4", "--part-size", "8", "--quiet"])
    assert result.exit_code == 0, result.output
    assert_same_rows(out, reference_report)
