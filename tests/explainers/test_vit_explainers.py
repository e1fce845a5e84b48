"""Every explainer on the three ViT families; Grad-CAM on a ViT block against pytorch-grad-cam."""
import copy

import pytest
import torch
from _vit_models import FAMILIES, ViTGeo
from _vit_models import attention_state as _attention_state
from pytorch_grad_cam import GradCAM as ReferenceGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import geoxai
from geoxai.contract import check_explainer, check_model
from geoxai.explainers.cam import model_blocks
from geoxai.explainers.combicam import CombiCAM
from geoxai.explainers.gradcam import GradCAM
from geoxai.vit import find_vit

FAST = {"ig-smoothgrad": {"n_steps": 4, "n_samples": 2}}
EXPLAINERS = [e["name"] for e in geoxai.available()["explainers"]]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_explainer_runs_and_leaves_the_vit_as_it_was(family, photos):
    model = ViTGeo(family)
    check_model(model)
    state = _attention_state(model)
    flags = [p.requires_grad for p in model.parameters()]
    assert {"gradcam", "combicam", "lrp", "ig-smoothgrad", "attention-rollout", "gradient-attention"} <= set(EXPLAINERS)
    for name in EXPLAINERS:
        maps = check_explainer(geoxai.load_explainer(name, **FAST.get(name, {})), model, photos[:2])
        assert maps.abs().sum() > 0, name
        assert _attention_state(model) == state, name
        assert [p.requires_grad for p in model.parameters()] == flags, name


def _reference_cam(model, x, cell, block):
    model = copy.deepcopy(model)  # pytorch-grad-cam calls backward(): keep .grad off our model
    vit = find_vit(model)
    layer = model.get_submodule(vit.norms[block])
    h, w = vit.grid(*x.shape[-2:])

    def reshape(tokens):  # pytorch-grad-cam's ViT recipe: drop the prefix tokens, tokens -> grid
        patches = tokens[:, vit.num_prefix_tokens:]
        return patches.reshape(tokens.shape[0], h, w, tokens.shape[2]).permute(0, 3, 1, 2)

    with ReferenceGradCAM(model, [layer], reshape_transform=reshape) as cam:
        return torch.from_numpy(cam(x, [ClassifierOutputTarget(cell)] * x.shape[0]))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("block", [0, 1])
def test_gradcam_on_a_vit_block_equals_pytorch_grad_cam(family, block, photos):
    model = ViTGeo(family).double()
    x = model.as_input(model.prepare(photos[:2])).double()
    ours = GradCAM(layer=block, normalize=True).explain(model, x, "cell:3")
    ref = _reference_cam(model, x, 3, block)
    assert ref.abs().sum() > 0
    # pytorch-grad-cam hands back float32: compare at its precision
    torch.testing.assert_close(ours, ref.to(ours.dtype), rtol=0, atol=2e-6)
    by_name = GradCAM(layer=find_vit(model).blocks[block], normalize=True).explain(model, x, "cell:3")
    torch.testing.assert_close(by_name, ours, rtol=0, atol=0)


@pytest.mark.parametrize("family", ["timm", "clip", "torchvision"])
def test_combicam_discovers_vit_blocks(family, photos):
    model = ViTGeo(family, depth=3).double()
    vit = find_vit(model)
    assert model_blocks(model) == vit.blocks
    x = model.as_input(model.prepare(photos[:2])).double()
    combined = CombiCAM(blocks="1-2", normalize=False).explain(model, x, "cell:2")
    parts = [GradCAM(layer=i).explain(model, x, "cell:2") for i in (1, 2)]
    torch.testing.assert_close(combined, parts[0] + parts[1], rtol=1e-5, atol=1e-6)


def test_gradcam_defaults_to_the_last_vit_block(photos):
    model = ViTGeo("siglip")
    batch = model.prepare(photos[:2])
    torch.testing.assert_close(GradCAM().explain(model, batch), GradCAM(layer=-1).explain(model, batch))
