import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel
from fidelity import assert_faithful

from geoxai.explainers.ig_smoothgrad import IGSmoothGrad, integration_rule
from geoxai.targets import Region, parse_target
from geoxai.types import ImageBatch

# Claims of "the same function" (ours = captum, batching, channels_last) are checked in float64
# (model.double()): float32 rounding depends on which kernels the CPU runs.


def _captum_ig(model, x, baseline, cells, **kw):
    return IntegratedGradients(model).attribute(x, baselines=baseline, target=cells, **kw)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                                    "riemann_middle"])
def test_raw_ig_equals_captum(tiny_model, tiny_batch, method):
    tiny_model.double()
    x = tiny_model.as_input(tiny_batch).double()
    cells = tiny_model(x).argmax(1)
    explainer = IGSmoothGrad(n_steps=12, batch_size=5)
    ours = explainer.attribute_raw(tiny_model, tiny_batch, method=method)
    ref = _captum_ig(tiny_model, x, explainer.baseline(tiny_model, x, "black"), cells, n_steps=12, method=method)
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-5, atol=1e-6 * ref.abs().max().item())


def test_one_sample_without_noise_equals_captum_ig_channel_max(tiny_model, tiny_batch):
    tiny_model.double()
    x = tiny_model.as_input(tiny_batch).double()
    cells = tiny_model(x).argmax(1)
    maps = IGSmoothGrad(n_samples=1, stdev=0.0, n_steps=10).explain(tiny_model, tiny_batch)
    ref = _captum_ig(tiny_model, x, IGSmoothGrad.baseline(tiny_model, x, "black"), cells, n_steps=10)
    expected = ref.detach().pow(2).amax(1)
    assert maps.shape == (4, 64, 64) and maps.dtype == torch.float64
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7 * expected.max().item())


def test_noise_tunnel_smoothgrad_sq_equals_captum_with_same_noise(tiny_model, tiny_batch, monkeypatch):
    tiny_model.double()
    x = tiny_model.as_input(tiny_batch).double()
    cells = tiny_model(x).argmax(1)
    noisy = IGSmoothGrad.noisy_inputs(x, 3, 0.15, seed=7, keys=IGSmoothGrad.noise_keys(tiny_batch))
    # captum draws its own noise; hand it ours so both integrate the same noisy copies
    monkeypatch.setattr(NoiseTunnel, "_add_noise_to_input", staticmethod(lambda inp, stdev, n: noisy.clone()))
    ref = NoiseTunnel(IntegratedGradients(tiny_model)).attribute(
        x, nt_type="smoothgrad_sq", nt_samples=3, stdevs=0.15, n_steps=8,
        baselines=IGSmoothGrad.baseline(tiny_model, x, "black"), target=cells).amax(1)
    ours = IGSmoothGrad(n_samples=3, n_steps=8, seed=7, batch_size=10).explain(tiny_model, tiny_batch)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7 * ref.max().item())


def test_noise_scale_is_fraction_of_value_range(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch)
    noisy = IGSmoothGrad.noisy_inputs(x, 50, 0.2, seed=0)
    for i in range(x.shape[0]):
        spread = (noisy[i * 50:(i + 1) * 50] - x[i]).std().item()
        expected = 0.2 * (x[i].max() - x[i].min()).item()
        assert abs(spread - expected) < 0.02 * expected


def test_seeded_and_batch_size_invariant(tiny_model, tiny_batch):
    tiny_model.double()
    a = IGSmoothGrad(n_steps=6, n_samples=2, seed=3, batch_size=5).explain(tiny_model, tiny_batch)
    b = IGSmoothGrad(n_steps=6, n_samples=2, seed=3, internal_batch_size=48).explain(tiny_model, tiny_batch)
    c = IGSmoothGrad(n_steps=6, n_samples=2, seed=4).explain(tiny_model, tiny_batch)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12 * a.max().item())
    assert (a - c).abs().max() > 0.01 * a.max()


def test_noise_follows_the_image_not_its_batch(tiny_model, tiny_batch):
    """A resumed or sharded dataset run puts an image in another batch: its map must not change."""
    tiny_model.double()  # float64: another batch composition may run other kernels
    explainer = IGSmoothGrad(n_steps=4, n_samples=3, seed=5)
    together = explainer.explain(tiny_model, tiny_batch)
    order = list(reversed(range(len(tiny_batch))))
    reversed_batch = ImageBatch(tiny_batch.pixels[order], [tiny_batch.ids[i] for i in order])
    torch.testing.assert_close(explainer.explain(tiny_model, reversed_batch), together[order], rtol=1e-10, atol=0)
    alone = explainer.explain(tiny_model, ImageBatch(tiny_batch.pixels[1:2], ["x"]))
    torch.testing.assert_close(alone[0], together[1], rtol=1e-10, atol=0)
    # the key is the content: uint8 pixels give the same keys as the ImageBatch, other images other keys
    keys = IGSmoothGrad.noise_keys(tiny_batch)
    assert IGSmoothGrad.noise_keys(tiny_batch.pixels) == keys and len(set(keys)) == len(keys)
    x = tiny_model.as_input(tiny_batch)
    a = IGSmoothGrad.noisy_inputs(x, 2, 0.1, seed=1, keys=keys)
    torch.testing.assert_close(IGSmoothGrad.noisy_inputs(x, 2, 0.1, seed=1, keys=keys), a)
    assert not torch.equal(IGSmoothGrad.noisy_inputs(x, 2, 0.1, seed=2, keys=keys), a)
    assert not torch.equal(IGSmoothGrad.noisy_inputs(x, 2, 0.1, seed=None, keys=keys), a)
    with pytest.raises(ValueError, match="noise keys"):
        IGSmoothGrad.noisy_inputs(x, 2, 0.1, seed=1, keys=keys[:1])


@pytest.mark.parametrize("target", [None, "cell:2", Region(node="EU")])
def test_completeness_error_shrinks_with_steps(tiny_model, tiny_batch, target):
    x = tiny_model.as_input(tiny_batch)[:2]
    explainer = IGSmoothGrad(method="riemann_trapezoid")
    base = explainer.baseline(tiny_model, x, "black").expand_as(x)
    score = parse_target(target).bind(tiny_model, tiny_model(x).detach()).score
    rows = torch.arange(2)
    with torch.no_grad():
        gap = score(tiny_model(x), rows) - score(tiny_model(base), rows)
    errors = []
    for steps in (3, 48):
        total = explainer.attribute_raw(tiny_model, x, target, n_steps=steps).sum(dim=(1, 2, 3))
        errors.append(((total - gap).abs() / gap.abs()).max().item())
    assert errors[1] < 0.5 * errors[0]
    assert errors[1] < 0.1


def test_integration_rules_match_captum():
    from captum.attr._utils.approximation_methods import approximation_parameters

    for method in ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_middle", "riemann_right"):
        step_sizes, alphas = approximation_parameters(method)
        ours_alpha, ours_w = integration_rule(method, 7)
        assert ours_alpha == pytest.approx(alphas(7), abs=1e-12)
        assert ours_w == pytest.approx(step_sizes(7), abs=1e-12)


def test_channels_last_is_the_same_function(resnet_model, resnet_batch):
    # no integration point at alpha = 0: the all-black baseline makes every max-pool window a tie,
    # and which tied input gets the gradient is implementation-defined (differs by CPU and release)
    options = {"n_steps": 2, "n_samples": 1, "method": "riemann_middle"}
    fast32 = IGSmoothGrad(channels_last=True, **options).explain(resnet_model, resnet_batch)
    resnet_model.double()
    ref = IGSmoothGrad(**options).explain(resnet_model, resnet_batch)
    fast = IGSmoothGrad(channels_last=True, **options).explain(resnet_model, resnet_batch)
    # other conv kernels, other rounding of the same function: float64 leaves ~1e-15 of it
    torch.testing.assert_close(fast, ref, rtol=1e-9, atol=1e-11 * ref.max().item())
    # the float32 fast path, judged by fidelity against the float64 map
    assert_faithful(fast32, ref)


def test_bfloat16_rank_agrees(tiny_model, tiny_batch):
    ref = IGSmoothGrad(n_steps=8, n_samples=2).explain(tiny_model, tiny_batch)
    bf16 = IGSmoothGrad(n_steps=8, n_samples=2, dtype="bfloat16").explain(tiny_model, tiny_batch)
    assert bf16.dtype == torch.float32 and torch.isfinite(bf16).all()
    def ranks(t):
        return t.flatten().argsort().argsort().float()
    corr = torch.corrcoef(torch.stack([ranks(ref[0]), ranks(bf16[0])]))[0, 1]
    assert corr > 0.8


def test_bad_options(tiny_model, tiny_batch):
    with pytest.raises(ValueError, match="no option"):
        IGSmoothGrad(n_step=3)
    # checked against the declared Literal when the explainer is built, not at the first call
    with pytest.raises(ValueError, match="option method must be 'gausslegendre' | .*got 'simpson'"):
        IGSmoothGrad(method="simpson")
    with pytest.raises(ValueError, match="integration method"):
        integration_rule("simpson", 5)
    with pytest.raises(ValueError, match="baseline"):
        IGSmoothGrad(baseline="grey").explain(tiny_model, tiny_batch)


def test_baselines(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch)
    black = IGSmoothGrad.baseline(tiny_model, x, "black")
    view = tiny_model.view_config
    torch.testing.assert_close(black[0, :, 0, 0], -torch.tensor(view.mean) / torch.tensor(view.std))
    assert IGSmoothGrad.baseline(tiny_model, x, 0.5).unique().tolist() == [0.5]
    assert IGSmoothGrad.baseline(tiny_model, x, "zeros").abs().sum() == 0
    custom = torch.rand(3, 64, 64)
    torch.testing.assert_close(IGSmoothGrad.baseline(tiny_model, x, custom)[0], custom)
    # uint8 pixels are normalised: an all-zero uint8 image is the "black" baseline, not 0.0
    zeros_u8 = torch.zeros(3, 64, 64, dtype=torch.uint8)
    torch.testing.assert_close(IGSmoothGrad.baseline(tiny_model, x, zeros_u8), black.expand(1, 3, 64, 64))
