"""geoxai.pipeline: one clean forward per batch, the prediction of the explained view, the
contracts with black-box geolocators and segmentation-aware explainers, the library entry point."""
from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

import geoxai
from geoxai.interfaces import Explainer
from geoxai.pipeline import Explanation, explain_batch
from geoxai.prediction import predict
from geoxai.types import Attribution, ImageBatch
from geoxai.views import ViewConfig


def _count_forwards(model) -> list[int]:
    calls = [0]
    model.register_forward_pre_hook(lambda module, args: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("name, options", [("ig-smoothgrad", {"n_samples": 2, "n_steps": 3}), ("gradcam", {})])
def test_one_clean_forward_serves_prediction_and_target(name, options, tiny_model, tiny_batch):
    explainer = geoxai.load_explainer(name, **options)
    explainer.explain_with_info(tiny_model, tiny_batch)  # ig-smoothgrad probes a model once for BatchNorm folding
    calls = _count_forwards(tiny_model)
    attribution = explainer.explain_with_info(tiny_model, tiny_batch)
    alone = calls[0]
    calls[0] = 0
    explanations = explain_batch(tiny_model, explainer, tiny_batch)
    # an explainer that hands back its clean logits costs the pipeline no forward; otherwise one per batch
    assert calls[0] == alone + (0 if attribution.logits is not None else 1)
    assert name != "ig-smoothgrad" or attribution.logits is not None
    expected = predict(tiny_model, tiny_batch, top_k=25)
    for explanation, prediction, heat in zip(explanations, expected, attribution.maps):
        assert explanation.prediction.cell == prediction.cell == explanation.explained_cell
        assert explanation.prediction.views == "single"
        assert explanation.prediction.probability == pytest.approx(prediction.probability, rel=1e-5)
        torch.testing.assert_close(explanation.map, heat)
    assert [e.id for e in explanations] == tiny_batch.ids


def test_each_image_alone_gives_the_batch_maps_and_progress_per_image(tiny_model, tiny_batch):
    explainer = geoxai.load_explainer("ig-smoothgrad", n_samples=2, n_steps=3)
    ticks: list[int] = []
    each = explain_batch(tiny_model, explainer, tiny_batch, explain_each=True, on_image=lambda: ticks.append(1))
    together = explain_batch(tiny_model, explainer, tiny_batch)
    assert len(ticks) == len(tiny_batch)
    for a, b in zip(each, together):
        torch.testing.assert_close(a.map, b.map, rtol=1e-4, atol=1e-6)
        assert a.info is not None and a.info["n_samples"] == 2


class _Locator:
    """A black-box geolocator as stream vlm's ``geoxai.blackbox.Geolocator`` describes it."""

    name = "fake-vlm"
    view_config = ViewConfig(input_size=32, resize_size=36)

    def locate(self, images: ImageBatch):
        from types import SimpleNamespace

        return [SimpleNamespace(lat=10.0 + i, lon=20.0, confidence=None, answer=f"place {i}", meta={})
                for i in range(len(images))]


class _Brightness(Explainer):
    """A model-agnostic explainer: it only looks at the pixels (enough to test the wiring)."""

    name = "brightness"
    model_agnostic = True

    def explain(self, model, images, target=None, **options):
        return images.pixels.float().mean(1)


def test_a_blackbox_geolocator_is_asked_through_locate_and_refuses_gradient_explainers(photos):
    (e,) = explain_batch(_Locator(), _Brightness(), photos[:1])
    assert (e.prediction.lat, e.prediction.lon, e.prediction.label) == (10.0, 20.0, "place 0")
    assert e.view.shape == (3, 32, 32) and e.explained_cell is None
    with pytest.raises(ValueError, match="'gradcam'.*'fake-vlm'.*model-agnostic"):
        explain_batch(_Locator(), geoxai.load_explainer("gradcam"), photos[:1])


def test_a_failed_black_box_answer_is_one_line_naming_the_image_not_a_nan_prediction(photos):
    from geoxai.blackbox import GeoAnswer, NoCoordinatesError

    class Lost(_Locator):
        def locate(self, images):
            return [GeoAnswer.failed("somewhere nice", "no coordinates in the answer")]

    with pytest.raises(NoCoordinatesError, match="'lost-photo'.*no coordinates in the answer.*somewhere nice"):
        explain_batch(Lost(), _Brightness(), photos[:1], ids=["lost-photo"])


class _ConceptMass(Explainer):
    """An explainer that needs the segmentation: the map is the concept index (to prove it arrived)."""

    name = "concept-mass"
    needs_segmentation = True

    def explain(self, model, images, target=None, segmentation=None, **options):
        assert segmentation is not None and segmentation.shape == (len(images), *images.pixels.shape[2:])
        return segmentation.float()


def test_an_explainer_that_needs_the_segmentation_gets_it(tiny_model, tiny_batch, tiny_segmenter):
    explanations = explain_batch(tiny_model, _ConceptMass(), tiny_batch, segmenter=tiny_segmenter)
    expected = tiny_segmenter.segment(tiny_batch)
    for i, e in enumerate(explanations):
        assert torch.equal(e.map, expected[i].float()) and torch.equal(e.segmentation, expected[i])
        assert e.ci and e.concepts == tiny_segmenter.concepts
    with pytest.raises(ValueError, match="needs a segmenter"):
        explain_batch(tiny_model, _ConceptMass(), tiny_batch)


def test_geoxai_explain_returns_explanations_that_draw_their_figure(tmp_path, photos):
    path = tmp_path / "photo.png"
    Image.fromarray(photos[0]).save(path)
    one = geoxai.explain(str(path), model="tiny", explainer="gradcam", segmenter="tiny", truth=(41.39, 2.17))
    assert isinstance(one, Explanation) and one.id == "photo" and one.path == path
    assert one.ground_truth == (41.39, 2.17) and one.gcd_km is not None and one.gcd_km >= 0
    assert one.provenance["model"] == "tiny" and one.ci is not None
    with Image.open(io.BytesIO(one._repr_png_())) as im:
        assert im.format == "PNG" and im.size == (1500, 900)
    several = geoxai.explain([photos[0], photos[1]], model="tiny", explainer="gradcam")
    assert [e.id for e in several] == ["0", "1"] and several[0].ci is None
    torch.testing.assert_close(several[0].map, one.map)  # the same pixels: the same map (batch rounding aside)


def test_attribution_checks_its_shape():
    with pytest.raises(ValueError, match="one dict per image"):
        Attribution(torch.zeros(2, 4, 4), info=[{}])
    with pytest.raises(ValueError, match=r"\[2, C\]"):
        Attribution(torch.zeros(2, 4, 4), logits=torch.zeros(3, 5))
