"""Concept Shapley rows beside gradient ci: per-image and dataset agreement (geoxai.concept_shapley)."""
from __future__ import annotations

import numpy as np
import pytest

from geoxai.ci import concept_influence
from geoxai.concept_shapley import CoalitionGame, agreement_table, ci_agreement, exact_shapley, perturbation_influence
from geoxai.plugins import load_explainer


def test_rows_and_agreement_from_a_real_run(tiny_model, tiny_batch, tiny_segmenter):
    batch = type(tiny_batch)(tiny_batch.pixels[:2], tiny_batch.ids[:2])
    seg = tiny_segmenter.segment(batch)
    shap = load_explainer("concept-shap").explain_with_info(tiny_model, batch, segmentation=seg)
    heat = load_explainer("gradcam").explain(tiny_model, batch)
    ci = concept_influence(heat, seg, k=200, min_size=0.0, num_concepts=len(tiny_segmenter.concepts))
    pairs = []
    for i in range(2):
        rows = shap.info[i]["concepts"]
        assert sum(abs(r["share"]) for r in rows) == pytest.approx(1.0)
        by_concept = {c: float(ci.ci[i, c]) for c in range(ci.num_concepts) if ci.valid[i, c]}
        result = ci_agreement(by_concept, rows)
        assert result["concepts"] == len(rows)
        assert result["spearman"] is None or -1 <= result["spearman"] <= 1
        pairs.append((by_concept, rows))
    table = agreement_table(pairs)
    assert table["images"] == 2


def test_agreement_is_rank_correlation():
    game = CoalitionGame(4, lambda m: (m.astype(float) @ np.array([4.0, 3.0, 2.0, 1.0]), np.zeros(len(m))))
    rows = perturbation_influence([10, 11, 12, 13], exact_shapley(game), [0.0, 1.0, 2.0, float("nan")],
                                  [5, 5, 5, 5], concept_names=[f"c{i}" for i in range(14)])
    assert [r["shapley"] for r in rows] == pytest.approx([4, 3, 2, 1])
    assert rows[0]["concept"] == "c10" and rows[3]["km_removed"] is None
    assert ci_agreement({10: 9.0, 11: 5.0, 12: 2.0, 13: 0.5}, rows)["spearman"] == pytest.approx(1.0)
    assert ci_agreement({10: 0.5, 11: 2.0, 12: 5.0, 13: 9.0}, rows)["spearman"] == pytest.approx(-1.0)
    assert ci_agreement({10: 1.0, 11: float("nan")}, rows) == {"concepts": 1, "spearman": None}
    table = agreement_table([({10: 9.0, 11: 5.0, 12: 2.0, 13: 0.5}, rows), ({10: 0.5, 11: 2.0, 12: 5.0}, rows)])
    assert table["mean_spearman"] == pytest.approx(0.0) and table["images_with_agreement"] == 2
