"""Every explainer leaves the model as it found it and accepts every kind of target."""
import pytest
import torch

import geoxai
from geoxai.targets import Cell, Region

FAST = {
    "ig-smoothgrad": {"n_steps": 3, "n_samples": 2},
    "gradcam": {"layer": None},
    "combicam": {},
    "lrp": {},
}


@pytest.mark.parametrize("name", sorted(FAST))
@pytest.mark.parametrize("which", ["tiny", "resnet"])
def test_model_untouched(name, which, hook_counts, tiny_model, tiny_batch, resnet_model, resnet_batch):
    model, batch = (tiny_model, tiny_batch) if which == "tiny" else (resnet_model, resnet_batch)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    next(model.parameters()).requires_grad_(False)  # a partly frozen model stays partly frozen
    flags[next(iter(flags))] = False
    x = model.as_input(batch)
    with torch.no_grad():
        before_out = model(x)
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks_before = hook_counts(model)
    maps = geoxai.load_explainer(name, **FAST[name]).explain(model, batch)
    assert maps.shape == (len(batch), model.view_config.input_size, model.view_config.input_size)
    assert maps.dtype == torch.float32 and maps.device.type == "cpu" and torch.isfinite(maps).all()
    assert hook_counts(model) == hooks_before == 0
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    after_state = model.state_dict()
    assert all(torch.equal(before_state[k], after_state[k]) for k in before_state)
    with torch.no_grad():
        assert torch.equal(model(x), before_out)


@pytest.mark.parametrize("name", sorted(FAST))
def test_training_mode_restored(name, tiny_model, tiny_batch):
    tiny_model.train()
    geoxai.load_explainer(name, **FAST[name]).explain(tiny_model, tiny_batch)
    assert tiny_model.training


@pytest.mark.parametrize("name", sorted(FAST))
@pytest.mark.parametrize("target", ["predicted", "cell:6", Cell(2), "region:EU", "within:41.39,2.17,1500",
                                    Region(cell_indices=(0, 3))])
def test_targets(name, target, tiny_model, tiny_batch):
    maps = geoxai.load_explainer(name, **FAST[name]).explain(tiny_model, tiny_batch, target)
    assert maps.shape == (4, 64, 64) and torch.isfinite(maps).all()
    if name != "gradcam":  # a random net's Grad-CAM for a non-predicted cell may be all negative -> 0
        assert maps.abs().sum() > 0


def test_targets_change_the_map(tiny_model, tiny_batch):
    explainer = geoxai.load_explainer("gradcam", layer="stage2")
    a = explainer.explain(tiny_model, tiny_batch, "cell:0")
    b = explainer.explain(tiny_model, tiny_batch, "cell:5")
    assert not torch.allclose(a, b)


def test_cell_out_of_range(tiny_model, tiny_batch):
    for name in FAST:
        with pytest.raises(ValueError, match="out of range"):
            geoxai.load_explainer(name, **FAST[name]).explain(tiny_model, tiny_batch, "cell:99")
