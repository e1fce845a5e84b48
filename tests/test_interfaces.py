import numpy as np
import pytest
import torch

from geoxai import GeoPrediction, ImageBatch
from geoxai.testing import TinyGeoModel


def test_prepare_gives_uint8_views(tiny_model, photos):
    batch = tiny_model.prepare(photos)
    assert batch.pixels.shape == (4, 3, 64, 64) and batch.pixels.dtype == torch.uint8
    assert batch.ids == ["0", "1", "2", "3"]
    x = tiny_model.as_input(batch)
    assert x.dtype == torch.float32 and x.shape == (4, 3, 64, 64)
    assert torch.allclose(x, tiny_model.as_input(batch.pixels))


def test_predict_is_consistent_with_probabilities(tiny_model, tiny_batch, photos):
    preds = tiny_model.predict(tiny_batch, top_k=3)
    probs = torch.softmax(tiny_model(tiny_model.as_input(tiny_batch)), 1)
    assert all(isinstance(p, GeoPrediction) for p in preds)
    for p, row in zip(preds, probs):
        assert p.cell == int(row.argmax()) and p.probability == pytest.approx(float(row.max()))
        assert (p.lat, p.lon) == (tiny_model.finest.lat[p.cell], tiny_model.finest.lon[p.cell])
        assert len(p.top_k) == 3 and p.top_k[0].cell == p.cell
    assert [p.image_id for p in preds] == tiny_batch.ids
    raw = tiny_model.predict(photos)  # raw arrays go through test_time_views
    assert [p.cell for p in raw] == [p.cell for p in preds]


def test_hierarchical_scores_are_log_product(photos):
    model = TinyGeoModel(seed=1, hierarchical=True)
    x = model.as_input(model.prepare(photos))
    coarse, fine = model.partition_logits(x)
    expected = torch.softmax(fine, 1) * torch.softmax(coarse, 1)[:, model.finest.parent]
    assert torch.allclose(model(x).exp(), expected, atol=1e-6)


def test_layers_and_errors(tiny_model):
    assert tiny_model.layer() is tiny_model.features[2]
    assert tiny_model.layer("stage1") is tiny_model.features[0]
    assert tiny_model.layer("features.1.0") is tiny_model.features[1][0]
    with pytest.raises(ValueError, match="no layer 'nope'; known: stage1, stage2, stage3"):
        tiny_model.layer("nope")


def test_same_seed_same_weights():
    a, b = TinyGeoModel(seed=5), TinyGeoModel(seed=5)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(TinyGeoModel(seed=6).heads[0].weight, a.heads[0].weight)


def test_image_batch_validation():
    with pytest.raises(ValueError, match="uint8"):
        ImageBatch(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="2 images but 1 ids"):
        ImageBatch(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), ["a"])
    assert ImageBatch(torch.zeros(2, 3, 4, 5, dtype=torch.uint8)).to_numpy().shape == (2, 4, 5, 3)


def test_partitioning_csv_round_trip(tmp_path, tiny_model):
    part = tiny_model.finest
    part.to_csv(tmp_path / "fine.csv")
    back = type(part).from_csv(tmp_path / "fine.csv", name="fine")
    assert back.keys == part.keys and back.labels == part.labels
    np.testing.assert_array_equal(back.lat, part.lat)
    np.testing.assert_array_equal(back.parent, part.parent)
