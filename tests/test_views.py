"""ViewConfig (a model's preprocessing as data) and the explicit prediction protocol."""
import dataclasses
import pickle

import numpy as np
import pytest
import torch

from geoxai.interfaces import GeoModel
from geoxai.io.images import center_crop, resize_short_side
from geoxai.plugins import model_view_config
from geoxai.testing import TinyGeoModel, synthetic_photo
from geoxai.views import ViewConfig


def _chw(a):
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)


def test_view_is_resize_then_centre_crop_and_five_crops_in_fivecrop_order():
    photo = synthetic_photo(1, 90, 130)
    cfg = ViewConfig(input_size=48, resize_size=60, test_time_crops="five", test_time_resizes=(70, 60))
    resized = resize_short_side(photo, 60)
    assert torch.equal(cfg.view(photo), _chw(center_crop(resized, 48)))
    twice = resize_short_side(resize_short_side(photo, 70), 60)
    h, w = twice.shape[:2]
    expected = [twice[:48, :48], twice[:48, w - 48:], twice[h - 48:, :48], twice[h - 48:, w - 48:],
                center_crop(twice, 48)]
    views = cfg.test_time_views(photo)
    assert views.shape == (5, 3, 48, 48) and views.dtype == torch.uint8
    for got, want in zip(views, expected):
        assert torch.equal(got, _chw(want))
    assert torch.equal(ViewConfig.for_crop(48).test_time_views(photo)[0], ViewConfig.for_crop(48).view(photo))


def test_view_config_is_frozen_picklable_data_with_checked_fields():
    cfg = ViewConfig.for_crop(224)
    assert cfg.resize_size == 256 and ViewConfig.for_crop(64).resize_size == 73
    assert pickle.loads(pickle.dumps(cfg)) == cfg and hash(cfg) == hash(ViewConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.input_size = 3
    assert cfg.to_dict()["mean"] == [0.485, 0.456, 0.406]
    for bad, message in (({"interpolation": "nearest"}, "interpolation"),
                         ({"test_time_crops": "ten"}, "test_time_crops"),
                         ({"input_size": 0}, "positive"), ({"std": (1, 0, 1)}, "positive stds")):
        with pytest.raises(ValueError, match=message):
            ViewConfig(**bad)


def test_the_legacy_size_attributes_are_refused_with_the_fix():
    with pytest.raises(TypeError, match="declare the view as data, view_config = ViewConfig"):
        class Legacy(GeoModel):  # noqa: F841 - defining it is the test
            input_size = 32

            def forward(self, x):
                return x.mean((2, 3))

    class Modern(GeoModel):
        view_config = ViewConfig(input_size=32)

        def forward(self, x):
            return x.mean((2, 3))

    model = Modern()
    with pytest.raises(AttributeError, match="the view is data"):
        model.input_size = 40
    assert not hasattr(model, "input_size") and model.view_config.input_size == 32


def test_predict_protocol_is_explicit_and_recorded():
    """One behaviour: the explained view unless the test-time crops are asked for (raw arrays too)."""
    from geoxai.prediction import predict, views_probabilities

    model = TinyGeoModel(test_time_crops="five")
    photos = [synthetic_photo(i, 80, 120) for i in range(4)]
    single = model.predict(photos, top_k=3, views="single")
    batch = model.predict(model.prepare(photos), top_k=3)
    test_time = model.predict(photos, top_k=3, views="test-time")
    default = predict(model, photos, top_k=3)
    assert [p.views for p in single] == ["single"] * 4 and [p.views for p in batch] == ["single"] * 4
    assert [p.views for p in test_time] == ["test-time"] * 4 and [p.views for p in default] == ["single"] * 4
    assert [(p.cell, p.probability) for p in single] == [(p.cell, p.probability) for p in batch]
    assert [p.probability for p in default] == [p.probability for p in single]
    assert [p.probability for p in single] != [p.probability for p in test_time]  # five crops differ
    with torch.no_grad():
        probs = torch.stack([torch.softmax(model(model.as_input(model.test_time_views(p))), 1).mean(0)
                             for p in photos])
    torch.testing.assert_close(probs[0], views_probabilities(model, model.test_time_views(photos[0])))
    assert [p.cell for p in test_time] == probs.argmax(1).tolist()
    with pytest.raises(ValueError, match="needs the raw RGB images"):
        model.predict(model.prepare(photos), views="test-time")
    with pytest.raises(ValueError, match="views must be one of single, test-time"):
        model.predict(photos, views="five")


def test_view_config_is_read_without_building_the_model(monkeypatch):
    built = TinyGeoModel(input_size=48, test_time_crops="five").view_config

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(TinyGeoModel, "__init__", refuse)
    assert model_view_config("tiny", input_size=48, test_time_crops="five") == built
    assert model_view_config("tiny") == ViewConfig.for_crop(64)


def test_builtin_reference_models_declare_their_views_without_weights(monkeypatch):
    from geoxai.models.multipartition import MultiPartitionGeoModel
    from geoxai.models.s2 import S2Model
    from geoxai.models.semp import SemPModel

    monkeypatch.setattr(MultiPartitionGeoModel, "__init__", lambda *a, **k: pytest.fail("model built"))
    s2 = S2Model.view_config_for(pretrained=False, input_size=224)
    assert (s2.input_size, s2.resize_size, s2.test_time_resizes, s2.test_time_crops) == (224, 256, (256,), "five")
    semp = SemPModel.view_config_for(pretrained=False, input_size=224)
    assert (semp.resize_size, semp.test_time_resizes) == (256, (320, 256))
    assert SemPModel.view_config_for(pretrained=False, input_size=380).test_time_resizes == (320,)
