"""Targets bind once to a model and the clean logits; every explainer uses the bound target."""
from __future__ import annotations

import warnings

import pytest
import torch

import geoxai
from geoxai.targets import BoundTarget, Cell, PredictedCell, Region, Target, parse_target


def test_predicted_cell_is_fixed_by_the_clean_logits(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch)
    with torch.no_grad():
        clean = tiny_model(x)
    bound = PredictedCell().bind(tiny_model, clean)
    assert isinstance(bound, BoundTarget) and torch.equal(bound.cells, clean.argmax(1))
    assert torch.equal(bound.score(clean), clean.max(1).values)
    # rows of other inputs are scored for their image's clean cell, not their own argmax
    other = torch.randn(6, clean.shape[1])
    rows = torch.tensor([0, 0, 1, 2, 3, 3])
    assert torch.equal(bound.score(other, rows), other[torch.arange(6), clean.argmax(1)[rows]])
    with pytest.raises(ValueError, match="clean logits"):
        PredictedCell().bind(tiny_model, None)


def test_cell_and_region_bind_without_a_forward_pass(tiny_model, monkeypatch):
    assert not Cell(2).needs_logits and not Region(node="EU").needs_logits and PredictedCell().needs_logits
    scores = torch.randn(3, 8)
    assert torch.equal(Cell(2).bind(tiny_model, None).score(scores), scores[:, 2])
    with pytest.raises(ValueError, match="cell 8 is out of range: the model has 8 cells"):
        Cell(8).bind(tiny_model, None)
    calls = []
    original = tiny_model.region_cells
    monkeypatch.setattr(tiny_model, "region_cells", lambda node: calls.append(node) or original(node))
    bound = Region(node="EU").bind(tiny_model, None)
    for _ in range(3):
        value = bound.score(scores)
    assert calls == ["EU"]  # resolved once, at binding
    torch.testing.assert_close(value, torch.softmax(scores, 1)[:, :3].sum(1))


def test_a_third_party_target_binds_through_its_score(tiny_model):
    class Top2(Target):
        def score(self, model, scores):
            return scores.topk(2, dim=1).values.sum(1)

    scores = torch.randn(4, 8)
    bound = Top2().bind(tiny_model, scores)
    assert torch.equal(bound.score(scores), scores.topk(2, dim=1).values.sum(1))
    assert geoxai.BoundTarget is BoundTarget


def _count_forwards(model):
    calls = []
    handle = model.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    return calls, handle


@pytest.mark.parametrize("target, passes", [("cell:2", 1), ("region:EU", 1), ("predicted", 2)])
def test_ig_runs_the_clean_pass_only_for_the_predicted_cell(tiny_model, tiny_batch, target, passes):
    # diagnostics off: its completeness passes are forward passes too, this counts the explaining ones
    explainer = geoxai.load_explainer("ig-smoothgrad", n_samples=1, n_steps=2, batch_size=64, diagnostics=False)
    explainer.explain(tiny_model, tiny_batch, target)  # the once-per-model probe for BatchNorm folding
    calls, handle = _count_forwards(tiny_model)
    try:
        explainer.explain(tiny_model, tiny_batch, target)
    finally:
        handle.remove()
    assert len(calls) == passes  # the one integration chunk, plus the clean pass if it is needed


@pytest.mark.parametrize("name", ["gradcam", "combicam"])
@pytest.mark.parametrize("target", ["predicted", "cell:2", "region:EU"])
def test_cams_bind_to_the_explained_pass(tiny_model, tiny_batch, name, target):
    calls, handle = _count_forwards(tiny_model)
    try:
        geoxai.load_explainer(name).explain(tiny_model, tiny_batch, target)
    finally:
        handle.remove()
    assert len(calls) == 1


def test_fixed_target_is_a_deprecated_wrapper(tiny_model, tiny_batch):
    from geoxai.explainers._common import fixed_target

    x = tiny_model.as_input(tiny_batch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target, score = fixed_target(tiny_model, x, "predicted")
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    with torch.no_grad():
        logits = tiny_model(x)
    rows = torch.arange(x.shape[0])
    assert target == PredictedCell() and torch.equal(score(logits, rows), logits.max(1).values)
    assert torch.equal(parse_target("cell:1").bind(tiny_model, logits).score(logits, rows), logits[:, 1])
