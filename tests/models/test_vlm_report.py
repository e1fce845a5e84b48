"""``geoxai report`` with the vlm model against the fake server: rows without cells, resume and
cache without new calls, an interrupted run resumed without duplicates, per-image failures, and
gradient explainers refused before the folder is made."""
from __future__ import annotations

import csv
import json

import pytest
from _fake_openai import FakeServer
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.geodesy import great_circle_km
from geoxai.report.store import PartStore

TRUTH = [(52.52, 13.40), (48.86, 2.35), (40.42, -3.70), (41.90, 12.50)]


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def dataset(photo_files, tmp_path):
    path = tmp_path / "data.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "lat", "lon", "id"])
        writer.writerows([(p.name, lat, lon, p.stem) for p, (lat, lon) in zip(photo_files, TRUTH)])
    return path


def report(server, dataset, out, *args):
    model = ["--model", "vlm", "--model-option", f"url={server.url}", "--model-option", "model=fake-vl",
             "--model-option", "max_side=32"]
    return CliRunner().invoke(main, ["report", *model, "--segmenter", "tiny", "--segmenter-option", "num_concepts=3",
                                     "--data", str(dataset), "--out", str(out), "--workers", "0", "--batch-size", "2",
                                     "--part-size", "1", "--min-images", "1", "--quiet", *args])


OCCLUSION = ["--explainer", "occlusion", "--explainer-option", "window=16", "--explainer-option", "stride=16"]


def sent_images(server) -> list[str]:
    return [next(c["image_url"]["url"] for c in r["body"]["messages"][0]["content"] if c["type"] == "image_url")
            for r in server.requests]


def test_report_rows_of_a_black_box_and_a_resume_that_costs_no_calls(server, dataset, tmp_path):
    out = tmp_path / "rep"
    result = report(server, dataset, out, *OCCLUSION)
    assert result.exit_code == 0, result.output
    images = PartStore(out).read_images().sort_values("image_id")
    assert list(images["status"]) == ["ok"] * 4 and (images["pred_cell"] == -1).all()
    assert images["pred_key"].isna().all() and images["pred_prob"].isna().all()
    for row in images.itertuples():
        info = json.loads(row.explainer_info)
        assert (row.pred_lat, row.pred_lon) == (info["answer"]["lat"], info["answer"]["lon"])
        assert row.pred_label == info["answer"]["answer"]  # the answer's text
        assert row.gcd_km == pytest.approx(float(great_circle_km(row.lat, row.lon, row.pred_lat, row.pred_lon)))
    assert set(images["pred_country"]) <= {"FR", "DE", "AT", "CH", "CZ", "PL", "SK", "HU"}  # east of Paris
    assert "# Concept influence" in (out / "summary.md").read_text()
    paid = len(server.requests)
    assert paid == len(set(sent_images(server)))
    again = report(server, dataset, out, *OCCLUSION)           # a resume: nothing left to compute
    elsewhere = report(server, dataset, tmp_path / "other", *OCCLUSION)  # a new folder: every answer cached
    assert again.exit_code == 0 and elsewhere.exit_code == 0, again.output + elsewhere.output
    assert len(server.requests) == paid
    assert len(PartStore(tmp_path / "other").read_images()) == 4


def test_an_interrupted_report_resumes_without_duplicates_or_repeated_calls(server, dataset, tmp_path, monkeypatch):
    from geoxai.report.worker import ReportWorker

    process = ReportWorker.process
    batches = []

    def stop_at_the_second_batch(self, records, on_image=None):
        batches.append(len(records))
        if len(batches) == 2:
            raise KeyboardInterrupt  # as Ctrl-C between batches: the first batch's rows are committed
        return process(self, records, on_image)

    monkeypatch.setattr(ReportWorker, "process", stop_at_the_second_batch)
    out = tmp_path / "rep"
    result = report(server, dataset, out, "--explainer", "concept-shap")
    assert result.exit_code == 130, result.output
    first = PartStore(out).read_images()
    assert sorted(first["image_id"]) == ["photo0", "photo1"]
    asked = len(server.requests)
    monkeypatch.setattr(ReportWorker, "process", process)
    result = report(server, dataset, out, "--explainer", "concept-shap")
    assert result.exit_code == 0, result.output
    images, concepts = PartStore(out).read_images(), PartStore(out).read_concepts()
    assert sorted(images["image_id"]) == ["photo0", "photo1", "photo2", "photo3"]
    assert not concepts.duplicated(["image_id", "concept"]).any()
    assert len(server.requests) > asked and len(server.requests) == len(set(sent_images(server)))
    # concept-shap's values are in the concept rows: the shares of an image's concepts sum to 1 in |.|
    for _, group in concepts.groupby("image_id"):
        assert group["shapley_share"].abs().sum() == pytest.approx(1.0)
        assert group["km_removed"].notna().all()
    assert "# Concept Shapley values" in (out / "summary.md").read_text()
    assert "Agreement" not in (out / "summary.md").read_text()  # concept-shap's own map: nothing to agree with


def test_an_answer_without_coordinates_fails_its_image_only(server, dataset, tmp_path):
    server.lose_first_answer()  # images go one by one: the first request is photo0's clean view
    out = tmp_path / "rep"
    result = report(server, dataset, out, *OCCLUSION)
    assert result.exit_code == 1
    images = PartStore(out).read_images().set_index("image_id")
    assert images.loc["photo0", "status"] == "failed" and "no coordinates" in images.loc["photo0", "error"]
    assert (images.drop("photo0")["status"] == "ok").all()


def test_a_gradient_explainer_is_refused_before_the_folder_is_made(server, dataset, tmp_path):
    out = tmp_path / "rep"
    result = report(server, dataset, out, "--explainer", "gradcam")
    assert result.exit_code != 0 and not (out / "config.json").exists()
    line = [x for x in result.output.splitlines() if x.strip()]
    assert len(line) == 1 and "gradcam" in line[0] and "vlm" in line[0] and "Traceback" not in result.output
    assert not server.requests
    # an engine that builds the model elsewhere (ray) checks the names only: the same line
    from geoxai.report.config import ReportConfig
    from geoxai.report.pipeline import check_names

    config = ReportConfig(model="vlm", model_options={"url": server.url, "model": "m"}, explainer="gradcam",
                          segmenter="tiny")
    with pytest.raises(ValueError) as refused:
        check_names(config)
    assert str(refused.value) == line[0].removeprefix("Error: ")
    check_names(ReportConfig(model="vlm", model_options={"url": server.url}, explainer="rise", segmenter="tiny"))
