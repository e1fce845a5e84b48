"""Concept influence: hand-computed cases, tie rule, dilation vs OpenCV, batched vs a plain loop."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

import geoxai
from geoxai.ci import concept_influence, resize_nearest, topk_mask


def quadrant_case(h=20, w=20):
    """Concept 1 fills the top-left quarter, concept 0 the rest."""
    seg = torch.zeros(h, w, dtype=torch.long)
    seg[: h // 2, : w // 2] = 1
    return seg


def test_exported_from_package():
    assert geoxai.concept_influence is concept_influence
    assert geoxai.ConceptInfluence is geoxai.ci.ConceptInfluence


def test_the_function_is_not_shadowed_by_a_module():
    # importing the implementing module must not turn geoxai.concept_influence into a module
    import importlib

    importlib.import_module("geoxai.ci")
    assert callable(geoxai.concept_influence) and geoxai.concept_influence.__module__ == "geoxai.ci"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("geoxai.concept_influence")


def test_all_topk_inside_quarter_concept_gives_four():
    seg = quadrant_case()
    expl = torch.zeros(20, 20)
    expl[:10, :10] = torch.rand(10, 10) + 1.0  # every top pixel lies in the quarter
    r = concept_influence(expl, seg, k=50, min_size=0.1)
    assert r.tki[0, 1].item() == 1.0
    assert r.size[0, 1].item() == 0.25
    assert r.ci[0, 1].item() == pytest.approx(4.0)
    assert r.ci[0, 0].item() == 0.0  # the rest holds none of the top pixels
    assert r.valid[0].tolist() == [True, True]


def test_no_topk_inside_concept_gives_zero():
    seg = quadrant_case()
    expl = torch.ones(20, 20)
    expl[:10, :10] = 0.0
    r = concept_influence(expl, seg, k=100)
    assert r.ci[0, 1].item() == 0.0
    assert r.intersection_pixels[0, 1].item() == 0
    # the other concept (3/4 of the image) holds all 100: ci = 1 / 0.75
    assert r.ci[0, 0].item() == pytest.approx(4 / 3)


def test_concept_below_min_size_is_not_scored():
    seg = torch.zeros(10, 10, dtype=torch.long)
    seg[0, :9] = 2  # 9 % of the image
    seg[5:, :] = 1  # 50 %
    expl = torch.rand(10, 10)
    r = concept_influence(expl, seg, k=10, min_size=0.1)
    assert not r.valid[0, 2] and math.isnan(r.ci[0, 2].item())
    assert [name for name, _ in r.top(0, ["a", "b", "c"])] and "c" not in dict(r.top(0, ["a", "b", "c"]))
    assert all(rec["concept"] != "c" for rec in r.records(["a", "b", "c"]))
    # at exactly the threshold it counts
    seg[0, 9] = 2
    r = concept_influence(expl, seg, k=10, min_size=0.1)
    assert r.valid[0, 2]


def test_ties_break_by_row_major_order():
    # 4x4 map, value 5 at two pixels, value 3 at four pixels; k = 4 cuts inside the tie at 3.
    expl = torch.zeros(4, 4)
    expl[3, 3] = expl[2, 0] = 5.0
    for rc in [(0, 3), (1, 1), (3, 0), (0, 1)]:
        expl[rc] = 3.0
    top = topk_mask(expl[None], 4)[0]
    expected = {(3, 3), (2, 0), (0, 1), (0, 3)}  # the two 5s, then the first two 3s in row-major order
    assert {tuple(x) for x in torch.nonzero(top).tolist()} == expected
    # a constant map: the first k pixels of the first row(s)
    top = topk_mask(torch.zeros(1, 3, 5), 7)[0]
    assert top.flatten().tolist() == [True] * 7 + [False] * 8
    # ... and therefore the ci of a concept on the first row is deterministic
    seg = torch.zeros(3, 5, dtype=torch.long)
    seg[0] = 1
    r = concept_influence(torch.zeros(3, 5), seg, k=7, min_size=0)
    assert r.intersection_pixels[0].tolist() == [2, 5]


def test_k_larger_than_image_uses_every_pixel():
    seg = quadrant_case(6, 6)
    r = concept_influence(torch.rand(6, 6), seg, k=1000, min_size=0)
    assert r.k.tolist() == [36]
    assert r.ci[0].tolist() == pytest.approx([1.0, 1.0])


def test_dilation_grows_square_by_beta_each_side():
    seg = torch.zeros(21, 21, dtype=torch.long)
    seg[8:13, 8:13] = 1  # 5x5 square
    expl = torch.zeros(21, 21)
    expl[7, 7] = 1.0  # one pixel diagonal to the square's corner
    for beta in range(4):
        r = concept_influence(expl, seg, k=1, min_size=0, dilation=beta)
        side = 5 + 2 * beta
        assert r.mask_pixels[0, 1].item() == side * side
        assert r.concept_pixels[0, 1].item() == 25
        # the corner-diagonal pixel belongs to the mask only once dilated (8-neighbourhood)
        inside = 1 if beta >= 1 else 0
        assert r.intersection_pixels[0, 1].item() == inside
        # hand computation: tki = inside / 1, s = side^2 / 441
        assert r.ci[0, 1].item() == pytest.approx(inside / (side * side / 441))


@pytest.mark.parametrize("beta", [1, 2, 3])
def test_dilation_matches_opencv(beta):
    rng = np.random.default_rng(beta)
    seg = rng.integers(0, 6, size=(2, 24, 31))
    seg[0, 5:12, 3:9] = 7  # a block, also near the border below
    seg[1, -3:, -4:] = 7
    expl = torch.from_numpy(rng.random((2, 24, 31)).astype(np.float32))
    r = concept_influence(expl, torch.from_numpy(seg), k=100, min_size=0, dilation=beta)
    top = topk_mask(expl, 100).numpy()
    for b in range(2):
        for c in range(8):
            m = (seg[b] == c).astype(np.uint8)
            iterated = cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=beta)
            square = cv2.dilate(m, np.ones((2 * beta + 1, 2 * beta + 1), np.uint8))
            assert np.array_equal(iterated, square)
            assert r.mask_pixels[b, c].item() == int(iterated.sum())
            assert r.intersection_pixels[b, c].item() == int((iterated.astype(bool) & top[b]).sum())


def reference_ci(expl: np.ndarray, seg: np.ndarray, k: int, min_size: float, beta: int, num_concepts: int):
    """Plain per-image, per-concept loop with OpenCV dilation and the documented tie rule."""
    b_count, h, w = expl.shape
    out = np.full((b_count, num_concepts), np.nan)
    k_eff = min(k, h * w)
    for b in range(b_count):
        flat = expl[b].ravel()
        order = sorted(range(h * w), key=lambda i: (-flat[i], i))[:k_eff]
        top = np.zeros(h * w, bool)
        top[order] = True
        top = top.reshape(h, w)
        for c in range(num_concepts):
            m = (seg[b] == c).astype(np.uint8)
            if m.sum() == 0:
                continue
            if beta:
                m = cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=beta)
            size = m.sum() / (h * w)
            if size < min_size:
                continue
            out[b, c] = ((m.astype(bool) & top).sum() / k_eff) / size
    return out


@pytest.mark.parametrize("k,min_size,beta", [(10, 0.0, 0), (50, 0.1, 0), (50, 0.05, 1), (200, 0.2, 2), (5000, 0.1, 3)])
def test_batched_equals_plain_loop(k, min_size, beta):
    rng = np.random.default_rng(k + beta)
    b, h, w, c = 3, 18, 23, 6
    # quantised maps so that ties at the k-th value are common
    expl = np.round(rng.random((b, h, w)) * 20).astype(np.float32)
    seg = rng.integers(0, c, size=(b, 6, 6)).repeat(3, axis=1).repeat(4, axis=2)[:, :h, :w]
    r = concept_influence(torch.from_numpy(expl), torch.from_numpy(seg), k=k, min_size=min_size, dilation=beta,
                          num_concepts=c + 2)
    expected = reference_ci(expl, seg, k, min_size, beta, c + 2)
    np.testing.assert_allclose(r.ci.numpy(), expected, rtol=1e-12, equal_nan=True)
    assert np.array_equal(r.valid.numpy(), ~np.isnan(expected))


def test_resolution_mismatch_uses_nearest_neighbour():
    seg_small = torch.tensor([[[0, 1], [2, 3]]])
    up = resize_nearest(seg_small, (4, 6))
    assert up[0].tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2
    # labels stay labels: nothing interpolated between 0 and 3
    down = resize_nearest(torch.arange(16).view(1, 4, 4), (2, 2))
    assert down[0].tolist() == [[5, 7], [13, 15]]
    expl = torch.zeros(4, 6)
    expl[0, 3:] = 1.0  # the top-right block = label 1 after upsampling
    r = concept_influence(expl, seg_small, k=3, min_size=0)
    assert r.ci[0].tolist() == pytest.approx([0.0, 4.0, 0.0, 0.0])
    assert r.image_pixels == 24


def test_unlabelled_pixels_and_records():
    seg = torch.full((2, 4, 4), -1)
    seg[0, :2] = 0
    seg[1, :, :2] = 1
    expl = torch.arange(32, dtype=torch.float32).view(2, 4, 4).flip(-1)
    r = concept_influence(expl, seg, k=4, min_size=0.1, num_concepts=3)
    assert r.num_concepts == 3
    recs = r.records(["sky", "road", "tree"], ["a", "b"])
    assert [(x["image_id"], x["concept"], x["rank"]) for x in recs] == [("a", "sky", 1), ("b", "road", 1)]
    assert recs[0]["ci"] == pytest.approx(0.0)  # image a: the top 4 pixels are the last row
    assert recs[1]["ci"] == pytest.approx(1.0)  # image b: 2 of the top 4 in the left half (size 0.5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(k=0), "k must be a positive integer"),
    (dict(dilation=-1), "dilation must be a non-negative integer"),
    (dict(min_size=1.5), "min_size must be in"),
    (dict(num_concepts=2), "label 3 >= num_concepts 2"),
])
def test_bad_arguments_raise_one_line_errors(kwargs, message):
    seg = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=message):
        concept_influence(torch.rand(2, 2), seg, **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        concept_influence(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="2 explanation maps but 1"):
        concept_influence(torch.rand(2, 3, 3), torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="segmentations integer"):
        concept_influence(torch.rand(3, 3), torch.zeros(3, 3))


@pytest.mark.parametrize("max_one_hot", [1 << 26, 1])  # 1: every image is its own chunk
def test_images_with_different_concept_sets(monkeypatch, max_one_hot):
    import geoxai.ci as module

    monkeypatch.setattr(module, "_MAX_ONE_HOT", max_one_hot)
    rng = np.random.default_rng(7)
    h, w = 16, 20
    blocks = rng.integers(0, 4, size=(3, 4, 5)).repeat(4, axis=1).repeat(4, axis=2)
    seg = np.stack([np.array([0, 1, 0, 1])[blocks[0]],      # concepts {0, 1}
                    np.array([2, 3, 4, 5])[blocks[1]],      # concepts {2, 3, 4, 5}
                    np.full((h, w), 7)])                     # only concept 7
    seg[2, :3, :3] = -1  # some unlabelled pixels
    expl = rng.random((3, h, w)).astype(np.float32)
    for beta in (0, 1, 2):
        r = concept_influence(torch.from_numpy(expl), torch.from_numpy(seg), k=40, min_size=0.0, dilation=beta,
                              num_concepts=9)
        np.testing.assert_allclose(r.ci.numpy(), reference_ci(expl, seg, 40, 0.0, beta, 9), rtol=1e-12,
                                   equal_nan=True)
