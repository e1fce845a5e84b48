"""The summary tables against an independent pandas computation from the per-image rows."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from _report_helpers import read_rows

import geoxai
from geoxai.geodesy import accuracy_at, great_circle_km
from geoxai.report.summary import summarize


def _expected(images, concepts, radius, min_images):
    ok = images[images.status == "ok"].copy()
    ok["correct"] = ok.gcd_km <= radius
    merged = concepts[concepts.valid].merge(ok[["image_id", "correct"]], on="image_id")
    out = {}
    for (concept, correct), group in merged.groupby(["concept", "correct"]):
        out[(concept, "correct" if correct else "incorrect")] = (len(group), group.ci.median(), group.ci.mean())
    return out


def test_report_medians_and_means_match_pandas(reference_report):
    images, concepts = read_rows(reference_report)
    assert len(images) == 24 and (images.status == "ok").all()
    expected = _expected(images, concepts, 750.0, 2)
    table = pd.read_csv(reference_report / "summary.csv")
    assert len(table) > 0
    listed = set(table.concept)
    for concept in {c for c, _ in expected}:
        n_max = max(expected.get((concept, s), (0,))[0] for s in ("correct", "incorrect"))
        assert (concept in listed) == (n_max >= 2)
    for row in table.itertuples():
        for split in ("correct", "incorrect"):
            n, median, mean = expected.get((row.concept, split), (0, math.nan, math.nan))
            assert getattr(row, f"{split}_images") == n
            if n >= 2:
                assert getattr(row, f"{split}_ci_median") == pytest.approx(median, rel=1e-9)
                assert getattr(row, f"{split}_ci_mean") == pytest.approx(mean, rel=1e-9)
            else:
                assert math.isnan(getattr(row, f"{split}_ci_median"))
    # sorted like the paper's table: by median ci of correct predictions, descending
    medians = table.correct_ci_median.dropna().to_numpy()
    assert np.all(np.diff(medians) <= 0)

    summary = json.loads((reference_report / "summary.json").read_text())
    gcd = images.gcd_km.to_numpy()
    assert summary["accuracy"]["750km"] == pytest.approx(accuracy_at(gcd)[750])
    assert summary["counts"]["correct"] == int((gcd <= 750).sum()) > 0
    assert summary["counts"]["incorrect"] == int((gcd > 750).sum()) > 0


def test_rows_are_the_models_predictions_and_distances(reference_report, dataset):
    from geoxai.io.datasets import read_dataset
    from geoxai.io.images import load_image

    images, concepts = read_rows(reference_report)
    model = geoxai.load_model("tiny")
    samples = {s.id: s for s in read_dataset(dataset)}
    views = [model.view(load_image(samples[i].image)) for i in images.image_id]
    preds = model.predict(geoxai.ImageBatch.stack(views, list(images.image_id)), top_k=1)
    assert images.pred_cell.tolist() == [p.cell for p in preds]
    np.testing.assert_allclose(images.pred_prob, [p.probability for p in preds], rtol=1e-5)
    np.testing.assert_allclose(images.gcd_km, great_circle_km(images.lat, images.lon, images.pred_lat, images.pred_lon))
    # valid rows have ci = tki / size and cover at least min_size; sizes of an image sum to at most 1
    valid = concepts[concepts.valid]
    np.testing.assert_allclose(valid.ci, valid.tki / valid["size"], rtol=1e-9)
    assert concepts[~concepts.valid].ci.isna().all()
    assert (valid["size"] >= 0.1).all() and not concepts[~concepts.valid]["size"].ge(0.1).any()
    assert (concepts.groupby("image_id")["size"].sum() <= 1 + 1e-9).all()


def test_summarize_by_hand():
    images = pd.DataFrame({
        "image_id": ["a", "b", "c", "d"], "status": ["ok", "ok", "ok", "failed"],
        "gcd_km": [10.0, 800.0, 100.0, np.nan], "path": "x", "error": [None, None, None, "broken"],
    })
    concepts = pd.DataFrame({
        "image_id": ["a", "b", "c", "a", "c", "b"],
        "concept": ["sky", "sky", "sky", "tree", "tree", "road"],
        "ci": [1.0, 3.0, 2.0, 0.5, np.nan, 4.0],
        "valid": [True, True, True, True, False, True],
    })
    s = summarize(images, concepts, radius_km=750, min_images=2)
    assert s.concepts.concept.tolist() == ["sky"]  # tree: 1 valid image; road: 1 image
    row = s.concepts.iloc[0]
    assert (row.correct_images, row.correct_ci_median, row.correct_ci_mean) == (2, 1.5, 1.5)
    assert row.incorrect_images == 1 and math.isnan(row.incorrect_ci_median)
    assert s.counts == {"images": 4, "ok": 3, "failed": 1, "correct": 2, "incorrect": 1}
    assert s.failed.image_id.tolist() == ["d"] and s.failed.error.tolist() == ["broken"]
    assert s.accuracy[25] == pytest.approx(1 / 3) and s.accuracy[750] == pytest.approx(2 / 3)


def test_outputs_exist_and_html_is_offline(reference_report):
    for name in ("summary.csv", "summary.md", "summary.json", "report.html", "manifest.txt",
                 "plots/ci_median.png", "plots/ci_distribution.png"):
        assert (reference_report / name).exists(), name
    html = (reference_report / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "plots/ci_median.png" in html and "<table>" in html
    figures = sorted((reference_report / "examples").glob("*.png"))
    assert len(figures) == 2 and all(f"examples/{f.name}" in html for f in figures)
    manifest = (reference_report / "manifest.txt").read_text().split()
    assert manifest == sorted(f"img{i:03d}" for i in range(24))


def test_pick_examples_alternates_correct_and_incorrect_then_fills_up():
    import pandas as pd

    from geoxai.report.examples import pick_examples

    images = pd.DataFrame({"image_id": ["a", "b", "c", "d", "e", "f"],
                           "status": ["ok", "ok", "ok", "failed", "ok", "ok"],
                           "gcd_km": [10.0, 5000.0, 20.0, None, 30.0, 40.0]})
    # correct (<= 750 km): a, c, e, f; incorrect: b; d failed
    assert pick_examples(images, 4)["image_id"].tolist() == ["a", "b", "c", "e"]
    assert pick_examples(images, 10)["image_id"].tolist() == ["a", "b", "c", "e", "f"]
    assert pick_examples(images, 0).empty


def test_the_report_seed_reaches_explainers_with_a_seed_of_their_own():
    from geoxai.report.config import ReportConfig
    from geoxai.report.worker import load_components, report_explainer_options

    def options(explainer, **given):
        return report_explainer_options(ReportConfig(model="tiny", explainer=explainer, segmenter="tiny", seed=7,
                                                     explainer_options=given))

    assert options("ig-smoothgrad") == {"seed": 7}
    assert options("ig-smoothgrad", seed=3, n_steps=4) == {"seed": 3, "n_steps": 4}  # named seed wins
    assert options("gradcam") == {}
    _, explainer, _ = load_components(ReportConfig(model="tiny", explainer="ig-smoothgrad", segmenter="tiny", seed=7),
                                      device="cpu")
    assert explainer.options["seed"] == 7
