"""ci per cue concept by true country, from report rows (hand-computed)."""
from __future__ import annotations

import pandas as pd

from geoxai.report.cues import cue_country_table


def test_ci_per_cue_by_true_country():
    images = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "true_country": ["DE", "DE", "RU", None]})
    concepts = pd.DataFrame({
        "image_id": ["a", "b", "c", "a", "c", "d", "b"],
        "concept": ["text", "text", "text", "sky", "bollard", "text", "bollard"],
        "ci": [3.0, 0.5, 2.0, 1.0, 4.0, 9.0, 1.5],
        "valid": [True, True, True, True, True, True, False],
    })
    table = cue_country_table(images, concepts, cues=["text", "bollard"])
    assert table[["concept", "true_country", "images"]].values.tolist() == [
        ["bollard", "RU", 1], ["text", "DE", 2], ["text", "RU", 1]]
    de = table[(table.concept == "text") & (table.true_country == "DE")].iloc[0]
    assert (de.mean_ci, de.median_ci, de.share_above_1) == (1.75, 1.75, 0.5)
    assert de.country == "Germany"
    assert cue_country_table(images, concepts, cues=["text"], min_images=2)["true_country"].tolist() == ["DE"]
    assert set(cue_country_table(images, concepts)["concept"]) == {"bollard", "sky", "text"}


def test_rows_without_countries_give_an_empty_table():
    table = cue_country_table(pd.DataFrame({"image_id": ["a"]}), pd.DataFrame({"image_id": ["a"]}))
    assert table.empty and "mean_ci" in table.columns
