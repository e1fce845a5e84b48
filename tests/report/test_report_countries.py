"""The report's country view: rows carry the predicted country, the HTML (jinja2) shows the share
of images predicted per country, correct vs incorrect."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from geoxai.countries import assign_points, countries
from geoxai.report.countries import country_table
from geoxai.report.html import render_html
from geoxai.report.store import PartStore
from geoxai.report.summary import summarize


def test_rows_carry_the_predicted_and_true_country(reference_report):
    images = PartStore(reference_report).read_images()
    ok = images[images.status == "ok"]
    assert ok.pred_country.notna().all() and ok.pred_continent.notna().all()
    assert ((ok.pred_country_prob > 0) & (ok.pred_country_prob <= 1)).all()
    assert (ok.pred_continent_prob >= ok.pred_country_prob - 1e-9).all()
    truth = [countries()[i].code if i >= 0 else "ocean" for i in assign_points(ok.lat, ok.lon)]
    assert ok.true_country.tolist() == truth


def test_country_table_counts_by_hand():
    images = pd.DataFrame({
        "image_id": list("abcdef"), "status": ["ok"] * 5 + ["failed"],
        "pred_country": ["ES", "ES", "FR", "ES", None, None], "true_country": ["ES", "PT", "FR", "ES", "DE", "DE"],
        "gcd_km": [10.0, 900.0, 20.0, 400.0, 5.0, math.nan],
    })
    table = country_table(images, radius_km=500)
    assert table.code.tolist() == ["ES", "FR"]
    es = table.iloc[0]
    assert (es.images, es.correct, es.incorrect, es.right_country) == (3, 2, 1, 2)
    assert es["name"] == "Spain" and es.share == pytest.approx(0.75)
    assert country_table(images.drop(columns=["pred_country"]), 500).empty  # rows from before the column


def test_report_html_has_the_country_view_and_escapes(reference_report):
    html = (reference_report / "report.html").read_text()
    assert "<h2>Countries</h2>" in html and "plots/countries.png" in html and "countries.csv" in html
    assert (reference_report / "plots" / "countries.png").is_file()
    table = pd.read_csv(reference_report / "countries.csv")
    assert table.images.sum() == 24 and table.share.sum() == pytest.approx(1.0)
    for row in table.itertuples():
        assert f"<td>{row.name}</td><td>{row.code}</td><td>{row.images}</td>" in html
    assert "Made with Natural Earth".lower() in html.lower()
    images = pd.DataFrame({"image_id": ["<b>x</b>"], "path": ["p"], "status": ["failed"], "error": ["<script>"],
                           "gcd_km": [math.nan]})
    summary = summarize(images, pd.DataFrame(columns=["image_id", "concept", "ci", "valid"]), min_images=1)
    page = render_html(summary, {}, [])
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page
