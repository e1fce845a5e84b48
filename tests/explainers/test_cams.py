import copy

import pytest
import torch
from pytorch_grad_cam import GradCAM as ReferenceGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from geoxai.explainers.cam import minmax, model_blocks, parse_blocks
from geoxai.explainers.combicam import CombiCAM
from geoxai.explainers.gradcam import GradCAM


def _reference(model, layer, x, cell):
    model = copy.deepcopy(model)  # pytorch-grad-cam calls backward(): keep .grad off our model
    with ReferenceGradCAM(model, [model.layer(layer)]) as cam:
        # computed in the model's dtype; pytorch-grad-cam rounds its result to float32 at the end
        return torch.from_numpy(cam(x, [ClassifierOutputTarget(cell)] * x.shape[0])).to(x.dtype)


@pytest.mark.parametrize("layer", ["stage1", "stage2", "stage3"])
def test_gradcam_equals_pytorch_grad_cam(tiny_model, tiny_batch, layer):
    tiny_model.double()  # float64 on both sides: the comparison does not depend on the CPU's kernels
    x = tiny_model.as_input(tiny_batch).double()
    ours = GradCAM(layer=layer, normalize=True).explain(tiny_model, tiny_batch, "cell:3")
    torch.testing.assert_close(ours, _reference(tiny_model, layer, x, 3), rtol=0, atol=2e-6)


def test_gradcam_resnet_layer4_and_raw_is_affine_of_reference(resnet_model, resnet_batch):
    resnet_model.double()
    x = resnet_model.as_input(resnet_batch).double()
    ref = _reference(resnet_model, "layer4", x, 5)
    ours = GradCAM().explain(resnet_model, resnet_batch, "cell:5")
    torch.testing.assert_close(GradCAM(normalize=True).explain(resnet_model, resnet_batch, "cell:5"), ref,
                               rtol=0, atol=2e-6)
    # the raw map is the reference up to pytorch-grad-cam's per-image min-max scaling
    torch.testing.assert_close(minmax(ours), ref, rtol=0, atol=1e-6)
    assert ours.shape == (2, 64, 64) and (ours >= 0).all()


def test_gradcam_hand_computed(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch)
    acts = {}
    handle = tiny_model.features.register_forward_hook(lambda m, a, out: acts.setdefault("a", out))
    xx = x.clone().requires_grad_(True)
    a = tiny_model.features(xx)
    logits = tiny_model.heads[1](tiny_model.pool(a).flatten(1))
    handle.remove()
    (g,) = torch.autograd.grad(logits[:, 1].sum(), a)
    cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1)).detach()
    expected = torch.nn.functional.interpolate(cam[:, None], size=(64, 64), mode="bilinear")[:, 0]
    torch.testing.assert_close(GradCAM(layer="features").explain(tiny_model, tiny_batch, "cell:1"), expected)


def test_combicam_one_layer_is_gradcam(tiny_model, tiny_batch):
    raw = GradCAM(layer="stage2").explain(tiny_model, tiny_batch)
    torch.testing.assert_close(CombiCAM(layers=["stage2"], normalize=False).explain(tiny_model, tiny_batch), raw)
    torch.testing.assert_close(CombiCAM(layers="stage2").explain(tiny_model, tiny_batch), minmax(raw))


def test_combicam_rule_sum_then_minmax(tiny_model, tiny_batch):
    maps = {n: GradCAM(layer=n).explain(tiny_model, tiny_batch, "cell:4") for n in ("stage1", "stage2", "stage3")}
    combined = CombiCAM(layers=["stage1", "stage2", "stage3"]).explain(tiny_model, tiny_batch, "cell:4")
    torch.testing.assert_close(combined, minmax(maps["stage1"] + maps["stage2"] + maps["stage3"]))
    weighted = CombiCAM(layers=["stage1", "stage3"], weights=[2.0, 0.5], normalize=False).explain(
        tiny_model, tiny_batch, "cell:4")
    torch.testing.assert_close(weighted, 2.0 * maps["stage1"] + 0.5 * maps["stage3"])
    per_layer = CombiCAM(layers=["stage1", "stage3"], layer_norm="minmax").explain(tiny_model, tiny_batch, "cell:4")
    torch.testing.assert_close(per_layer, minmax(minmax(maps["stage1"]) + minmax(maps["stage3"])))
    assert combined.min() == 0 and abs(combined.amax((1, 2)) - 1).max() < 1e-3


def test_combicam_single_forward_and_backward(tiny_model, tiny_batch):
    calls = []
    handle = tiny_model.register_forward_hook(lambda *a: calls.append(1))
    CombiCAM().explain(tiny_model, tiny_batch)
    handle.remove()
    # one explained pass for all three layers; the predicted cell is read from it
    assert len(calls) == 1


def test_blocks(resnet_model, resnet_batch):
    blocks = model_blocks(resnet_model)
    assert blocks == ["net.layer1.0", "net.layer1.1", "net.layer2.0", "net.layer2.1", "net.layer3.0",
                      "net.layer3.1", "net.layer4.0", "net.layer4.1"]
    assert parse_blocks("2-4,7", 8) == [2, 3, 4, 7]
    with pytest.raises(ValueError, match="out of range"):
        parse_blocks("5-9", 8)
    with pytest.raises(ValueError, match="invalid blocks"):
        parse_blocks("a-b", 8)
    by_blocks = CombiCAM(blocks="6-7").explain(resnet_model, resnet_batch)
    by_layers = CombiCAM(layers=["net.layer4.0", "net.layer4.1"]).explain(resnet_model, resnet_batch)
    torch.testing.assert_close(by_blocks, by_layers)


def test_unknown_layer(tiny_model, tiny_batch):
    with pytest.raises(ValueError, match="no layer 'nope'"):
        GradCAM(layer="nope").explain(tiny_model, tiny_batch)


def test_combicam_authors_rule_is_their_target_and_upsampling(tiny_model, tiny_batch):
    """authors_rule=True: per-layer Grad-CAM of the top cell's softmax probability, upsampled with
    align_corners=True, summed, min-max normalised (computed here by hand)."""
    import torch.nn.functional as F

    x = tiny_model.as_input(tiny_batch)
    layers = ["stage1", "stage2", "stage3"]
    acts = []
    handles = [tiny_model.layer(n).register_forward_hook(lambda m, a, out: acts.append(out)) for n in layers]
    inp = x.clone().requires_grad_(True)
    try:
        logits = tiny_model(inp)
    finally:
        for h in handles:
            h.remove()
    top = logits.detach().argmax(1, keepdim=True)
    prob = torch.softmax(logits, 1).gather(1, top)[:, 0]
    grads = torch.autograd.grad(prob.sum(), acts)
    total = 0
    for act, grad in zip(acts, grads):
        cam = torch.relu((grad.mean((2, 3), keepdim=True) * act).sum(1, keepdim=True))
        total = total + F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=True)[:, 0]
    expected = minmax(total.detach())
    ours = CombiCAM(layers=layers, authors_rule=True).explain(tiny_model, tiny_batch)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    default = CombiCAM(layers=layers).explain(tiny_model, tiny_batch)
    assert (default - ours).abs().max() > 1e-3  # the default rule is a different map
    with pytest.raises(ValueError, match="authors_rule"):
        CombiCAM(authors_rule=True).explain(tiny_model, tiny_batch, "cell:2")
