"""Deletion and insertion on hand-made models: curves and AUCs computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _quality_models import LinearSumModel, quadrant

from geoxai.geodesy import great_circle_km
from geoxai.quality import deletion, deletion_insertion, insertion, smooth_random_maps
from geoxai.quality.curves import pixel_ranks, removal_counts


def _ramp_image() -> torch.Tensor:
    x = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    x[0, 0] = torch.arange(16, dtype=torch.float64).view(4, 4)
    return x


def test_curve_by_hand_on_4x4_image():
    # score = sum of channel 0 (values 0..15, sum 120); mean fill = 7.5; map = the values themselves
    model = LinearSumModel(torch.ones(4, 4)).double()
    x = _ramp_image()
    maps = x[:, 0].clone()
    curves = deletion_insertion(model, maps, x, target="cell:0", score="logit", steps=4, fill="mean")
    d, i = curves["deletion"], curves["insertion"]
    np.testing.assert_allclose(d.fractions, [0, 0.25, 0.5, 0.75, 1.0])
    # deleting the 4 largest (12..15, sum 54) and filling 7.5 each: 120 - 54 + 30 = 96, ...
    np.testing.assert_allclose(d.score[0], [120, 96, 88, 96, 120])
    np.testing.assert_allclose(i.score[0], [120, 144, 152, 144, 120])
    # trapezoid by hand: 0.25 * (108 + 92 + 92 + 108) = 100
    np.testing.assert_allclose(d.auc(), [100.0])
    np.testing.assert_allclose(d.auc_normalized(), [100.0 / 120.0])
    np.testing.assert_allclose(i.auc(), [0.25 * (132 + 148 + 148 + 132)])


def test_least_relevant_first_reverses_the_order():
    model = LinearSumModel(torch.ones(4, 4)).double()
    x = _ramp_image()
    d = deletion(model, x[:, 0].clone(), x, target="cell:0", score="logit", steps=4, fill="mean", order="least")
    # removing the 4 smallest (0..3, sum 6) first: 120 - 6 + 30 = 144
    np.testing.assert_allclose(d.score[0], [120, 144, 152, 144, 120])


def test_deleting_the_read_quadrant_first_drops_the_score_fastest():
    size = 16
    model = LinearSumModel(quadrant(size), rival=-1e9)
    # bright where the model reads (the top-left quadrant), dark elsewhere; mean fill ~ 0.9
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(0))
    x[:, :, : size // 2, : size // 2] += 2.0
    right = quadrant(size).expand(3, size, size) + 0.01 * torch.rand(3, size, size)
    wrong = 1.0 - right  # the read quadrant last
    random = smooth_random_maps(3, (size, size), cells=4, seed=1)
    auc = {name: deletion(model, m, x, target="cell:0", score="logit", steps=8, fill="mean").auc()
           for name, m in {"right": right, "wrong": wrong, "random": random}.items()}
    assert (auc["right"] < auc["random"]).all() and (auc["random"] < auc["wrong"]).all()
    ins = {name: insertion(model, m, x, target="cell:0", score="logit", steps=8, fill="mean").auc()
           for name, m in {"right": right, "wrong": wrong}.items()}
    assert (ins["right"] > ins["wrong"]).all()


def test_km_and_mass_curves_follow_the_prediction():
    # cell 0 (Barcelona) scores the sum of the top-left quadrant, cell 3 (New York) a constant 20
    size = 8
    model = LinearSumModel(quadrant(size), rival=20.0)
    x = torch.zeros(1, 3, size, size)
    x[:, :, : size // 2, : size // 2] = 4.0  # quadrant sum 64; mean fill = 1 per pixel
    maps = quadrant(size)[None] + 0.001 * torch.arange(size * size, dtype=torch.float32).view(1, size, size)
    truth = [(41.3874, 2.1686)]  # Barcelona
    d = deletion(model, maps, x, target="cell:0", score="logit", steps=4, fill="mean", truth=truth,
                 radius_km=100.0)
    # counts 0, 16 (the whole quadrant is gone: score 16 < 20), 32, 48, 64
    np.testing.assert_allclose(d.score[0], [64, 16, 16, 16, 16])
    nyc = great_circle_km(41.3874, 2.1686, 40.7128, -74.0060)
    np.testing.assert_allclose(d.km[0], [0, nyc, nyc, nyc, nyc], rtol=1e-9)
    # mass within 100 km of the clean prediction = p(Barcelona) = sigmoid(score - 20) here
    expected = 1.0 / (1.0 + np.exp(20.0 - d.score[0]))
    np.testing.assert_allclose(d.mass_pred[0], expected, rtol=1e-5)
    np.testing.assert_allclose(d.mass_truth[0], d.mass_pred[0], rtol=1e-9)  # the truth is the same place
    np.testing.assert_allclose(d.km_auc(), [0.25 * (nyc / 2 + 3 * nyc)], rtol=1e-9)
    # unknown truth: NaN, not zero
    d = deletion(model, maps, x, target="cell:0", steps=4, fill="mean")
    assert np.isnan(d.mass_truth).all()


def test_patches_rank_by_their_mean():
    maps = torch.tensor([[[0, 0, 9, 9], [0, 0, 9, 9], [5, 5, 1, 1], [5, 5, 1, 1]]], dtype=torch.float32)
    ranks, positions = pixel_ranks(maps, unit=2)
    assert positions == 4
    assert ranks[0].tolist() == [[3, 3, 0, 0], [3, 3, 0, 0], [1, 1, 2, 2], [1, 1, 2, 2]]
    assert removal_counts(50176, 20)[:3] == [0, 2509, 5018] and removal_counts(50176, 20)[-1] == 50176


def test_chunking_does_not_change_the_curves():
    model = LinearSumModel(quadrant(8))
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(4))
    a = deletion_insertion(model, maps, x, target="cell:0", steps=5, batch_size=1)
    b = deletion_insertion(model, maps, x, target="cell:0", steps=5, batch_size=64)
    for kind in ("deletion", "insertion"):
        np.testing.assert_allclose(a[kind].score, b[kind].score, rtol=1e-6)


def test_bad_options_name_the_problem():
    model = LinearSumModel(quadrant(4))
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="fill"):
        deletion(model, torch.rand(1, 4, 4), x, fill="zeros")
    with pytest.raises(ValueError, match="do not match"):
        deletion(model, torch.rand(1, 5, 5), x)
    with pytest.raises(ValueError, match="NaN"):
        deletion(model, torch.full((1, 4, 4), float("nan")), x)
    with pytest.raises(ValueError, match="steps"):
        deletion(model, torch.rand(1, 4, 4), x, steps=0)
    with pytest.raises(ValueError, match="score"):
        deletion(model, torch.rand(1, 4, 4), x, score="margin")


def test_region_targets_score_their_probability_and_road_runs_end_to_end():
    model = LinearSumModel(quadrant(8), rival=3.0).double()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1))
    d = deletion(model, maps, x, target="cells:0,3", steps=4, fill="road")
    probs = torch.softmax(model(x), 1).detach()
    np.testing.assert_allclose(d.clean_score, (probs[:, 0] + probs[:, 3]).numpy(), rtol=1e-12)
    np.testing.assert_allclose(d.score[:, 0], d.clean_score, rtol=1e-12)
    assert d.score_kind == "probability" and np.isfinite(d.score).all()
    one = deletion(model, maps, x, target="cell:0", steps=4, fill="road", score="logit")
    # everything removed: ROAD has nothing to interpolate from and fills the mean colour (+ noise)
    mean_fill = x[:, 0].mean(dim=(1, 2)) * 16
    np.testing.assert_allclose(one.score[:, -1], mean_fill.numpy(), atol=16 * 4 * 0.01)


def test_least_first_deletion_is_most_first_insertion_read_backwards():
    model = LinearSumModel(quadrant(8))
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(8))
    least = deletion(model, maps, x, target="cell:0", steps=4, fill="blur", order="least")
    most = insertion(model, maps, x, target="cell:0", steps=4, fill="blur")
    np.testing.assert_allclose(least.score, most.score[:, ::-1], rtol=1e-6)


def test_the_layout_of_the_copies_changes_rounding_only():
    from geoxai.testing import TinyGeoModel

    model = TinyGeoModel().double().eval()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(
        memory_format=torch.channels_last)))
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    maps = torch.rand(2, 32, 32, generator=torch.Generator().manual_seed(6))
    runs = {}
    for layout in ("contiguous", "channels_last", "auto"):
        seen.clear()
        runs[layout] = deletion_insertion(model, maps, x, steps=5, batch_size=4, memory_format=layout)
        copies = seen[1:]  # the first call is the clean image, as given
        assert copies and all(c == (layout != "contiguous") for c in copies)  # auto: a conv net on the CPU
    for kind in ("deletion", "insertion"):  # the same copies: float64 agrees to rounding
        np.testing.assert_allclose(runs["channels_last"][kind].score, runs["contiguous"][kind].score, rtol=1e-10)
    assert runs["contiguous"]["deletion"].score[0, 1] != runs["contiguous"]["deletion"].score[0, 0]
    with pytest.raises(ValueError, match="memory_format"):
        deletion(model, maps, x, memory_format="nhwc")
