"""The public noise tunnel wraps any explainer; checked against captum's NoiseTunnel (same noise,
float64) for its three rules, with a gradient explainer written here on the public base."""
import pytest
import torch
from captum.attr import NoiseTunnel as CaptumNoiseTunnel
from captum.attr import Saliency

from geoxai.contract import check_explainer
from geoxai.explainers.base import BaseExplainer, model_input, to_maps, untouched
from geoxai.explainers.gradcam import GradCAM
from geoxai.explainers.ig_smoothgrad import IGSmoothGrad
from geoxai.explainers.noise import NoiseTunnel, noise_keys, noisy_inputs
from geoxai.options import OptionError


class RedGradient(BaseExplainer):
    """The signed gradient of the target w.r.t. the red channel (no channel reduction, so the
    tunnel's rules are captum's per-channel rules)."""

    name = "red-gradient"

    def explain(self, model, images, target=None, **options):
        x = model_input(model, images)
        with untouched(model):
            inp = x.clone().requires_grad_(True)
            with torch.enable_grad():
                logits = model(inp)
                score = self.bind_target(model, target, logits.detach()).score(logits)
                (grad,) = torch.autograd.grad(score.sum(), inp)
        return to_maps(grad[:, 0])


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_equals_captum_with_the_same_noise(tiny_model, tiny_batch, monkeypatch, nt_type):
    tiny_model.double()
    x = tiny_model.as_input(tiny_batch).double()
    cells = tiny_model(x).argmax(1)
    noisy = noisy_inputs(x, 5, 0.2, seed=3, keys=noise_keys(tiny_batch))
    # captum draws its own noise; hand it ours so both explain the same noisy copies
    monkeypatch.setattr(CaptumNoiseTunnel, "_add_noise_to_input", staticmethod(lambda inp, stdev, n: noisy.clone()))
    ref = CaptumNoiseTunnel(Saliency(tiny_model)).attribute(x, nt_type=nt_type, nt_samples=5, stdevs=0.2,
                                                            target=cells, abs=False)[:, 0]
    # batch_size 3 cuts the 20 copies across images: each copy must still get its own image's cell
    ours = NoiseTunnel(RedGradient(), nt_type=nt_type, n_samples=5, stdev=0.2, seed=3, batch_size=3).explain(
        tiny_model, tiny_batch)
    assert ours.dtype == torch.float64 and ref.abs().max() > 0
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-9, atol=1e-12 * ref.abs().max().item())


def test_the_tunnel_draws_ig_smoothgrads_noise(tiny_model, tiny_batch):
    # one implementation: IG-SmoothGrad's noise is the tunnel's functions, not a copy of them
    assert IGSmoothGrad.noisy_inputs is noisy_inputs and IGSmoothGrad.noise_keys is noise_keys
    assert IGSmoothGrad().noisy_inputs is noisy_inputs  # a static method: no instance bound


def test_wrapping_gradcam_keeps_the_contract_and_passes_options_on(tiny_model, tiny_batch):
    tunnel = NoiseTunnel(GradCAM(), n_samples=3, stdev=0.1)
    check_explainer(tunnel, tiny_model, target="cell:2")
    one = tunnel.explain(tiny_model, tiny_batch, layer="stage2")
    assert one.shape == (4, 64, 64)
    torch.testing.assert_close(tunnel.explain(tiny_model, tiny_batch, layer="stage2"), one)  # seeded
    assert not torch.equal(tunnel.explain(tiny_model, tiny_batch, layer="stage2", seed=1), one)
    # no noise: every copy is the image itself, so smoothgrad is the wrapped explainer's map
    torch.testing.assert_close(tunnel.explain(tiny_model, tiny_batch, stdev=0.0),
                               GradCAM().explain(tiny_model, tiny_batch), rtol=1e-5, atol=1e-7)
    with pytest.raises(OptionError, match="option n_samples must be >= 1, got 0"):
        NoiseTunnel(GradCAM(), n_samples=0)
    with pytest.raises(OptionError, match="explainer 'gradcam' has no option 'bogus'"):
        tunnel.explain(tiny_model, tiny_batch, bogus=1)
