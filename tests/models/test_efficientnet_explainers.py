"""The public release's EfficientNet-B4 runs every built-in explainer, Combi-CAM over its blocks."""
import pytest
import torch

import geoxai
from geoxai.contract import check_explainer
from geoxai.explainers._cam import model_blocks


@pytest.fixture(scope="module")
def effnet():
    torch.manual_seed(0)
    return geoxai.load_model("s2", pretrained=False, backbone="efficientnet-b4", num_classes=(3, 6, 12),
                             input_size=64, seed=0)


def test_blocks_are_the_papers_32_mbconv_blocks(effnet):
    blocks = model_blocks(effnet)
    assert len(blocks) == 32 and blocks[0] == "model._blocks.0" and blocks[-1] == "model._blocks.31"


@pytest.mark.parametrize("name, options", [
    ("ig-smoothgrad", {"n_samples": 2, "n_steps": 4}),
    ("gradcam", {}),
    ("combicam", {}),                   # all 32 blocks
    ("combicam", {"blocks": "22-29"}),  # the range the Combi-CAM paper singles out
    ("lrp", {}),
])
def test_every_explainer_runs_on_efficientnet_b4(effnet, name, options):
    maps = check_explainer(geoxai.load_explainer(name, **options), effnet)
    assert maps.shape[-2:] == (64, 64) and torch.isfinite(maps).all()
