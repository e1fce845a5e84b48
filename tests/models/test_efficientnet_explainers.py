"""The public release's EfficientNet-B4 runs every built-in explainer, Combi-CAM over its blocks."""
import pytest
import torch
from fidelity import assert_faithful

import geoxai
from geoxai.contract import check_explainer
from geoxai.explainers.cam import model_blocks


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


def test_fold_batchnorm_folds_efficientnet_and_keeps_the_map(effnet):
    from geoxai.explainers.batchnorm import conv_batchnorm_pairs
    from geoxai.explainers.ig_smoothgrad import IGSmoothGrad
    from geoxai.testing import synthetic_photo

    batch = effnet.prepare([synthetic_photo(seed=1, height=80, width=90)])
    # static-"same"-padding conv subclasses count: stem + head + 3 per block, 2 in the two blocks without expansion
    assert len(conv_batchnorm_pairs(effnet, effnet.as_input(batch))) == 96
    ref = IGSmoothGrad(n_steps=4, n_samples=2, fold_batchnorm=False).explain(effnet, batch)
    folded = IGSmoothGrad(n_steps=4, n_samples=2, fold_batchnorm=True).explain(effnet, batch)
    assert not torch.equal(folded, ref)
    # the float32 fast path, judged by fidelity (its rounding depends on the CPU's kernels); that
    # folding is the same function is proved in float64 on a ResNet (tests/explainers): B4's
    # depthwise convolutions have no fast float64 kernel, one float64 pass takes minutes
    assert_faithful(folded, ref)
