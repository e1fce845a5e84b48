"""Perturbation explainers against captum (float64), their options and the Shapley estimates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geoxai.blackbox import GeoAnswer, Geolocator, as_geolocator
from geoxai.concept_shapley import CoalitionGame, exact_shapley, sampled_shapley
from geoxai.plugins import load_explainer
from geoxai.testing import TinyGeoModel, synthetic_photo

SIZE = 32


@pytest.fixture(scope="module")
def model64():
    return TinyGeoModel(input_size=SIZE).double().eval()


@pytest.fixture(scope="module")
def batch(model64):
    return model64.prepare([synthetic_photo(seed) for seed in (1, 2)], ids=["a", "b"])


def captum_forward(model, cells):
    return lambda x: model(x).gather(1, cells[:, None].expand(len(x) // len(cells), -1).reshape(-1)[:, None])[:, 0]


def test_occlusion_equals_captum(model64, batch):
    from captum.attr import FeatureAblation, Occlusion

    x = model64.as_input(batch).double()
    cells = model64(x).argmax(1)
    occlusion = load_explainer("occlusion")
    baseline = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    # overlapping windows: captum divides by the window counts in float32 (``.float() / weight``), so
    # the comparison is to float32 rounding
    ours = occlusion.explain(model64, batch, window=8, stride=4, fill="mean")
    ref = Occlusion(model64).attribute(x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), baselines=baseline,
                                       target=cells)
    assert ours.dtype == torch.float64 and ours.abs().max() > 1e-5
    torch.testing.assert_close(ours, ref[:, 0].double(), rtol=1e-6, atol=1e-10)
    # tiling windows: the same function in float64, against captum's FeatureAblation over the windows
    tiles = ours.new_zeros(SIZE, SIZE, dtype=torch.long)
    tiles[:] = (torch.arange(SIZE)[:, None] // 8) * 4 + torch.arange(SIZE)[None, :] // 8
    ours = occlusion.explain(model64, batch, window=8, stride=8, fill="mean")
    ref = FeatureAblation(model64).attribute(x, baselines=baseline, target=cells,
                                             feature_mask=tiles[None, None].expand(2, 3, -1, -1))
    assert ref.dtype == torch.float64
    torch.testing.assert_close(ours, ref[:, 0], rtol=1e-12, atol=1e-12)


def test_concept_shap_exact_equals_captum(model64, batch):
    from captum.attr import ShapleyValues

    x = model64.as_input(batch).double()
    cells = model64(x).argmax(1)
    seg = (torch.arange(SIZE)[None, :, None] // 11 * 2 + torch.arange(SIZE)[None, None, :] // 17).expand(2, -1, -1)
    seg = seg.clone()
    seg[1] = torch.where(seg[1] == 5, 0, seg[1])  # the second image has one concept fewer
    attribution = load_explainer("concept-shap").explain_with_info(model64, batch, fill="zero", segmentation=seg)
    black = model64.normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8)).double()
    for b in range(2):
        ref = ShapleyValues(model64).attribute(x[b:b + 1], baselines=black.expand(1, 3, SIZE, SIZE),
                                                target=int(cells[b]), feature_mask=seg[b][None, None])
        # captum accumulates its permutations in float32 (``total_attrib`` dtype=torch.float): equal to
        # its rounding; the float64 identity below (values sum to v(all) - v(none)) holds to 1e-9
        ref = ref[0, 0].double()
        torch.testing.assert_close(attribution.maps[b], ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))
        info = attribution.info[b]
        assert info["mode"] == "exact" and info["calls"] == 2 ** len(info["concepts"]) + 1
        total = sum(c["shapley"] for c in info["concepts"])
        assert total == pytest.approx(info["full_score"] - info["empty_score"], rel=1e-9)


def test_sampled_shapley_converges_to_exact():
    rng = np.random.default_rng(0)
    n = 9
    weights, other = rng.normal(size=n), rng.normal(size=n)

    def evaluate(members):  # not quadratic: antithetic pairs are exact for games of order <= 2
        m = members.astype(float)
        return np.sin(m @ weights) + (m @ other) ** 3 / 10, np.zeros(len(m))

    exact = exact_shapley(CoalitionGame(n, evaluate)).values
    errors = []
    for budget in (40, 160, 511):
        estimate = sampled_shapley(CoalitionGame(n, evaluate), budget, seed=1)
        assert estimate.calls <= budget
        errors.append(np.abs(estimate.values - exact).max() / np.abs(exact).sum())
        assert estimate.values.sum() == pytest.approx(exact.sum())  # every permutation telescopes
    assert errors[-1] < errors[0] and errors[-1] < 0.03


def test_rise_is_centred_and_seeded(model64, batch):
    rise = load_explainer("rise")
    first = rise.explain_with_info(model64, batch, n_masks=16, cells=4, seed=3)
    again = rise.explain(model64, batch, n_masks=16, cells=4, seed=3)
    other = rise.explain(model64, batch, n_masks=16, cells=4, seed=4)
    torch.testing.assert_close(first.maps, again)
    assert not torch.equal(first.maps, other)
    assert first.info[0]["calls"] == 17
    assert first.maps.abs().max() > 0


@pytest.mark.parametrize("name", ["occlusion", "rise"])
def test_maps_are_centred(name):
    """A photo whose answer no perturbation moves gets a zero map (nothing matters)."""
    from geoxai.types import ImageBatch

    pixels = torch.full((1, 3, 16, 16), 120, dtype=torch.uint8)  # uniform: the mean fill changes nothing
    maps = load_explainer(name).explain(Circle(), ImageBatch(pixels), fill="mean")
    assert torch.equal(maps, torch.zeros_like(maps))


class Circle(Geolocator):
    """A black box that answers (the mean red level of the top half) / 10 degrees east of Paris."""

    name = "circle"

    def locate(self, images):
        red = images.pixels[:, 0, :images.pixels.shape[2] // 2].double().mean(dim=(1, 2))
        return [GeoAnswer(48.85, float(2.35 + r / 10), None, "ok") if r > 0 else GeoAnswer.failed("?", "none")
                for r in red.tolist()]


@pytest.mark.parametrize("fill", ["mean", "blur", "noise", "zero", "inpaint"])
def test_black_box_km_scores_every_fill(fill):
    from geoxai.types import ImageBatch

    pixels = torch.full((1, 3, 16, 16), 60, dtype=torch.uint8)
    pixels[0, 0, :8] = 250  # the red top half moves the answer
    attribution = load_explainer("occlusion").explain_with_info(Circle(), ImageBatch(pixels, ["p"]), window=8,
                                                               stride=8, fill=fill)
    info = attribution.info[0]
    assert info["score"] == "km" and info["calls"] == 5 and info["clean_score"] == 1.0
    heat = attribution.maps[0]
    if fill != "inpaint":  # inpainting a half from the other half's edge may keep some red
        assert heat[:8].mean() > heat[8:].mean()
    assert info["km_moved_max"] > 0


def test_black_box_region_target_and_refusals():
    from geoxai.types import ImageBatch

    pixels = torch.full((1, 3, 16, 16), 200, dtype=torch.uint8)
    occlusion = load_explainer("occlusion")
    inside = occlusion.explain_with_info(Circle(), ImageBatch(pixels), "within:48.85,22.35,100", window=8)
    assert inside.info[0]["clean_score"] == 1.0
    with pytest.raises(ValueError, match="black box"):
        occlusion.explain(Circle(), ImageBatch(pixels), score="target")
    with pytest.raises(ValueError, match="no coordinates|none"):
        occlusion.explain(Circle(), ImageBatch(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), ["dark.jpg"]))
    with pytest.raises(ValueError, match="fill must be"):
        occlusion.explain(Circle(), ImageBatch(pixels), fill="sepia")


def test_torch_model_km_score_equals_its_geolocator(model64, batch):
    """score=km on a torch model is the black-box score of the model wrapped by as_geolocator (a
    black fill keeps the composed pixels integers, so both paths see the same input)."""
    occlusion = load_explainer("occlusion")
    direct = occlusion.explain_with_info(model64, batch, score="km", window=16, stride=8, fill="zero", tau_km=500.0)
    wrapped = occlusion.explain_with_info(as_geolocator(model64), batch, window=16, stride=8, fill="zero",
                                          tau_km=500.0)
    torch.testing.assert_close(direct.maps, wrapped.maps.double(), rtol=1e-6, atol=1e-7)
    cells = model64(model64.as_input(batch).double()).argmax(1).tolist()
    assert [info["answer"]["cell"] for info in direct.info] == cells
    assert direct.info[0]["calls"] == 10 and direct.info[0]["km_moved_max"] == wrapped.info[0]["km_moved_max"]


def test_one_instance_shared_by_threads_gives_the_sequential_results(model64, batch):
    import threading

    shap = load_explainer("concept-shap")
    seg = (torch.arange(SIZE)[None, :, None] // 11 + torch.arange(SIZE)[None, None, :] // 17 * 3).expand(2, -1, -1)
    sequential = [shap.explain(model64, batch, segmentation=seg, fill=fill) for fill in ("mean", "blur")]
    results: dict[str, torch.Tensor] = {}
    threads = [threading.Thread(target=lambda f=fill: results.__setitem__(
        f, shap.explain(model64, batch, segmentation=seg, fill=f))) for fill in ("mean", "blur")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torch.equal(results["mean"], sequential[0]) and torch.equal(results["blur"], sequential[1])
    assert not model64.training and all(p.requires_grad for p in model64.parameters())
