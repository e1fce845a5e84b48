"""Sanity check (cascading randomisation) and stability on the tiny model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geoxai.plugins import load_explainer
from geoxai.quality import model_stages, sanity_check, stability
from geoxai.quality._targets import fix_target
from geoxai.quality.stability import maps_with_seed


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model, state) -> bool:
    current = model.state_dict()
    return set(current) == set(state) and all(torch.equal(current[k], state[k]) for k in state)


def test_stages_cover_every_parameter_head_first(tiny_model):
    stages = model_stages(tiny_model)
    assert [name for name, _ in stages] == ["output", "stage3", "stage2", "stage1"]
    names = [n for _, group in stages for n in group]
    assert sorted(names) == sorted(n for n, _ in tiny_model.named_parameters())
    assert all(n.startswith("heads.") for n in stages[0][1])


def test_sanity_check_restores_the_model_bit_for_bit(tiny_model, tiny_batch):
    before = _state(tiny_model)
    result = sanity_check(tiny_model, "gradcam", tiny_batch)
    assert _same(tiny_model, before)
    assert result.stages == ["output", "stage3", "stage2", "stage1"]
    assert result.spearman.shape == (4, len(tiny_batch)) and np.isfinite(result.spearman).all()
    assert not tiny_model.training


class _FailsOnThirdCall:
    name = "flaky"
    defaults: dict = {}

    def __init__(self) -> None:
        self.inner = load_explainer("gradcam")
        self.calls = 0

    def explain(self, model, images, target=None, **options):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom half-way")
        return self.inner.explain(model, images, target=target, **options)


def test_sanity_check_restores_the_model_after_an_error(tiny_model, tiny_batch):
    before = _state(tiny_model)
    rng = torch.random.get_rng_state()
    flaky = _FailsOnThirdCall()
    single = tiny_batch.pixels[:1]  # one image: one explain call per stage
    with pytest.raises(RuntimeError, match="boom"):
        sanity_check(tiny_model, flaky, single)
    assert flaky.calls == 3  # it did randomise stages before failing
    assert _same(tiny_model, before)
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_randomisation_changes_the_model_while_it_runs(tiny_model, tiny_batch):
    seen = []

    class Probe(_FailsOnThirdCall):
        def explain(self, model, images, target=None, **options):
            seen.append(model.heads[1].weight.detach().clone())
            return self.inner.explain(model, images, target=target, **options)

    before = tiny_model.heads[1].weight.detach().clone()
    sanity_check(tiny_model, Probe(), tiny_batch.pixels[:1], stages=1)
    assert torch.equal(seen[0], before) and not torch.equal(seen[1], before)
    assert torch.equal(tiny_model.heads[1].weight, before)


def test_stability_of_a_deterministic_explainer_is_perfect(tiny_model, tiny_batch, tiny_segmenter):
    result = stability(tiny_model, "gradcam", tiny_batch, seeds=(0, 1), k=50, segmenter=tiny_segmenter, ci_k=50)
    np.testing.assert_allclose(result.spearman, 1.0)
    np.testing.assert_allclose(result.topk, 1.0)
    assert result.summary()["ci_relative_difference"] == 0.0


def test_stability_sees_smoothgrad_noise(tiny_model, tiny_batch, tiny_segmenter):
    explainer = load_explainer("ig-smoothgrad", n_samples=2, n_steps=4)
    result = stability(tiny_model, explainer, tiny_batch, seeds=(0, 1, 2), k=50, segmenter=tiny_segmenter,
                       ci_k=200)
    assert result.spearman.shape == (3, len(tiny_batch))
    assert (result.spearman < 0.999).all() and (result.spearman > 0).all()
    assert explainer.options == {"n_samples": 2, "n_steps": 4}  # the seed override was undone
    frame = result.ci_frame()
    assert set(frame.seed) == {0, 1, 2} and np.isfinite(frame.ci).all()
    with pytest.raises(ValueError, match="two distinct seeds"):
        stability(tiny_model, explainer, tiny_batch, seeds=(1, 1))


def test_sanity_verdicts():
    from geoxai.quality.sanity import SanityResult

    def result(rows):
        rho = np.asarray(rows, dtype=float)
        return SanityResult(["output", "head", "stage1"], rho, rho, ["a", "b"])

    assert result([[0.2, -0.3], [0.1, 0.0], [0.0, 0.1]]).verdict() == "pass"
    partial = result([[0.9, 0.8], [0.7, 0.6], [0.1, -0.2]])
    assert partial.verdict() == "partial" and partial.passed()
    failed = result([[0.9, 0.9], [0.9, 0.8], [0.6, 0.7]])
    assert failed.verdict() == "fail" and not failed.passed()


def test_stability_reuses_maps_it_is_given(tiny_model, tiny_batch):
    explainer = load_explainer("ig-smoothgrad", n_samples=2, n_steps=4)
    calls = []
    original = explainer.explain
    explainer.explain = lambda *a, **k: calls.append(1) or original(*a, **k)
    fresh = stability(tiny_model, explainer, tiny_batch, seeds=(0, 1), k=50)
    per_seed = len(calls) // 2  # one call per distinct target cell and seed
    fixed = fix_target(tiny_model, tiny_model(tiny_model.as_input(tiny_batch)).float(), None)
    seed0 = maps_with_seed(explainer, tiny_model, tiny_batch, fixed, 0)
    calls.clear()
    reused = stability(tiny_model, explainer, tiny_batch, seeds=(0, 1), k=50, known_maps={0: seed0})
    assert per_seed >= 1 and len(calls) == per_seed  # seed 1 only
    np.testing.assert_allclose(reused.spearman, fresh.spearman)
    np.testing.assert_allclose(reused.topk, fresh.topk)


def test_randomised_and_reseeded_maps_skip_the_completeness_passes_and_equal_the_full_maps(tiny_model, tiny_batch,
                                                                                         monkeypatch):
    """Only their maps are read, so ig-smoothgrad's completeness forwards are switched off there; the
    maps do not depend on them."""
    from geoxai.explainers.ig_smoothgrad import IGSmoothGrad

    explainer = load_explainer("ig-smoothgrad", n_samples=2, n_steps=4, completeness_copies=2)
    x = tiny_model.as_input(tiny_batch)
    fixed = fix_target(tiny_model, tiny_model(x).detach(), None)
    full = maps_with_seed(explainer, tiny_model, tiny_batch, fixed, seed=3)
    calls = []
    real = IGSmoothGrad._score_gaps
    monkeypatch.setattr(IGSmoothGrad, "_score_gaps", staticmethod(lambda *a: calls.append(1) or real(*a)))
    torch.testing.assert_close(maps_with_seed(explainer, tiny_model, tiny_batch, fixed, seed=3), full,
                               rtol=0, atol=0)
    sanity_check(tiny_model, explainer, tiny_batch, stages=2)
    assert calls == []


def test_reseeded_maps_leave_the_explainer_as_it_was(tiny_model, tiny_batch):
    """The stability check's seed is an option of the call: the shared explainer instance is not changed."""
    explainer = load_explainer("ig-smoothgrad", n_samples=2, n_steps=4)
    before = dict(explainer.options)
    fixed = fix_target(tiny_model, tiny_model(tiny_model.as_input(tiny_batch)).detach(), None)
    maps = maps_with_seed(explainer, tiny_model, tiny_batch, fixed, seed=5)
    assert explainer.options == before
    seeded = load_explainer("ig-smoothgrad", n_samples=2, n_steps=4, seed=5, diagnostics=False)
    torch.testing.assert_close(maps, fixed.explain(seeded, tiny_model, tiny_batch), rtol=0, atol=0)
    assert not torch.equal(maps, maps_with_seed(explainer, tiny_model, tiny_batch, fixed, seed=6))
