"""A CAM method is one override of ``CAMExplainer.cam_weights``: custom CAMs written here with public
imports only, checked against pytorch-grad-cam's own implementations in float64."""
import copy

import pytest
import torch
import torch.nn.functional as F
from pytorch_grad_cam import GradCAMPlusPlus as ReferenceGradCAMPlusPlus
from pytorch_grad_cam import ScoreCAM as ReferenceScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from geoxai.contract import check_explainer
from geoxai.explainers.cam import CAMExplainer, CAMLayer


class GradCAMPlusPlus(CAMExplainer):
    """Chattopadhay et al. 2018, eq. 19, with pytorch-grad-cam's 1e-6."""

    name = "gradcam++"

    def cam_weights(self, layer: CAMLayer) -> torch.Tensor:
        g, a = layer.gradients, layer.activations
        alpha = g**2 / (2 * g**2 + a.sum(dim=(2, 3), keepdim=True) * g**3 + 1e-6)
        return (torch.where(g != 0, alpha, 0) * g.relu()).sum(dim=(2, 3))


class ScoreCAM(CAMExplainer):
    """Wang et al. 2020: each channel, upsampled and min-max scaled, masks the input; the weights are
    the softmax over channels of the masked inputs' target scores. Gradient-free."""

    name = "scorecam"
    needs_gradients = False

    def cam_weights(self, layer: CAMLayer) -> torch.Tensor:
        a = F.interpolate(layer.activations, size=layer.inputs.shape[-2:], mode="bilinear", align_corners=True)
        low, high = a.amin(dim=(2, 3), keepdim=True), a.amax(dim=(2, 3), keepdim=True)
        masks = (a - low) / (high - low + 1e-8)
        b, c = masks.shape[:2]
        masked = (layer.inputs[:, None] * masks[:, :, None]).flatten(0, 1)
        with torch.no_grad():
            scores = layer.target.score(layer.model(masked), torch.arange(b).repeat_interleave(c))
        return scores.view(b, c).softmax(dim=1)


class MeanActivation(CAMExplainer):
    """Gradient-free: every channel weighs its mean activation."""

    name = "mean-activation"
    needs_gradients = False

    def cam_weights(self, layer: CAMLayer) -> torch.Tensor:
        assert layer.gradients is None
        return layer.activations.mean(dim=(2, 3))


def _reference(cam_class, model, layer, x, cell):
    model = copy.deepcopy(model)  # pytorch-grad-cam calls backward(): keep .grad off our model
    with cam_class(model, [model.layer(layer)]) as cam:
        return torch.from_numpy(cam(x, [ClassifierOutputTarget(cell)] * x.shape[0])).to(x.dtype)


@pytest.mark.parametrize("layer", ["stage2", "stage3"])
def test_gradcam_plus_plus_on_the_public_base_equals_pytorch_grad_cam(tiny_model, tiny_batch, layer):
    tiny_model.double()
    x = tiny_model.as_input(tiny_batch).double()
    ours = GradCAMPlusPlus(layer=layer, normalize=True).explain(tiny_model, tiny_batch, "cell:3")
    ref = _reference(ReferenceGradCAMPlusPlus, tiny_model, layer, x, 3)
    assert ref.amax() > 0.5  # a real map, not all zeros on both sides
    torch.testing.assert_close(ours, ref, rtol=0, atol=2e-6)


def test_score_cam_on_the_public_base_equals_pytorch_grad_cam(tiny_model, tiny_batch):
    tiny_model.double()
    x = tiny_model.as_input(tiny_batch).double()
    ours = ScoreCAM(layer="stage2", normalize=True).explain(tiny_model, tiny_batch, "cell:5")
    ref = _reference(ReferenceScoreCAM, tiny_model, "stage2", x, 5)
    assert ref.amax() > 0.5
    # pytorch-grad-cam rounds the channel scores to float32 (torch.Tensor(scores)) before its softmax
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_gradient_free_cam_runs_no_backward_and_keeps_the_contract(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch)
    with torch.no_grad():
        a = tiny_model.features(x)  # stage3 is the last of the features
    cam = torch.relu((a.mean(dim=(2, 3), keepdim=True) * a).sum(1))
    expected = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    explainer = MeanActivation(layer="stage3")
    with torch.autograd.graph.saved_tensors_hooks(lambda t: pytest.fail("a graph was recorded"), lambda t: t):
        maps = explainer.explain(tiny_model, tiny_batch)
    torch.testing.assert_close(maps, expected)
    check_explainer(explainer, tiny_model)
