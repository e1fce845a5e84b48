import pytest
import torch
from explainers._vit_models import FAMILIES, ViTGeo
from explainers._vit_models import attention_state as _attention_state

from geoxai.vit import cam_tap, eager_attention, find_vit, tokens_to_grid


@pytest.mark.parametrize("family,prefix,blocks", [
    ("timm", 1, "net.blocks.1"), ("timm-registers", 3, "net.blocks.1"), ("clip", 1, "net.encoder.layers.1"),
    ("siglip", 0, "net.encoder.layers.1"), ("torchvision", 1, "net.encoder.layers.encoder_layer_1"),
])
def test_find_vit_and_token_grid(family, prefix, blocks):
    model = ViTGeo(family)
    vit = find_vit(model)
    assert vit.path == "net" and vit.num_prefix_tokens == prefix and vit.blocks[-1] == blocks
    assert vit.has_class_token == (family != "siglip") and vit.patch_size == (8, 8)
    tap = cam_tap(model, -1)  # the last block by index = the last block by name = its first LayerNorm
    assert tap.module is model.get_submodule(vit.norms[-1]) and cam_tap(model, blocks).module is tap.module
    tokens = torch.arange(2 * (prefix + 16) * 3, dtype=torch.float32).view(2, prefix + 16, 3)
    grid = tap.to_map(tokens, (32, 32))
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[1, 2, 1, 3], tokens[1, prefix + 1 * 4 + 3, 2])  # row-major patches after the prefix


def test_token_grid_follows_the_input_size_of_dynamic_timm_models():
    model = ViTGeo("timm-registers")
    vit = find_vit(model)
    seen = []
    handle = model.get_submodule(vit.norms[0]).register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 48))
    handle.remove()
    assert tokens_to_grid(seen[0], vit, (32, 48)).shape == (1, 32, 4, 6)
    with pytest.raises(ValueError, match="tokens"):
        tokens_to_grid(seen[0], vit, (32, 32))


def test_block_index_out_of_range_is_one_line_error():
    with pytest.raises(ValueError, match="out of range.*2 blocks"):
        cam_tap(ViTGeo("clip"), 5)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("detach", [False, True])
def test_eager_attention_records_probabilities_and_restores(family, detach):
    model = ViTGeo(family)
    before = _attention_state(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
    with eager_attention(model, detach=detach, every_mha=detach) as probs:
        assert _attention_state(model) != before  # switched to the eager path
        out = model(x.requires_grad_(True))
    assert _attention_state(model) == before
    n = find_vit(model).num_prefix_tokens + 16
    assert [tuple(p.shape) for p in probs] == [(2, 2, n, n)] * 2
    torch.testing.assert_close(probs[0].sum(-1), torch.ones(2, 2, n))
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)  # the same function
    grads = torch.autograd.grad(out[:, 3].sum(), [*probs, x], allow_unused=True)
    if detach:  # the probabilities are constants for backward, the input still gets a gradient
        assert all(g is None for g in grads[:-1]) and grads[-1].abs().sum() > 0
    else:  # the recorded tensors are the ones that weight the values
        assert all(g is not None and g.abs().sum() > 0 for g in grads[:-1])


@pytest.mark.parametrize("family", ["timm", "clip", "torchvision"])
def test_the_tap_is_the_last_blocks_input_because_its_output_patches_never_reach_the_class_token(family):
    model = ViTGeo(family)
    vit = find_vit(model)
    seen = {}
    hooks = [model.get_submodule(vit.blocks[-1]).register_forward_hook(
                 lambda m, i, o: seen.setdefault("output", o[0] if isinstance(o, tuple) else o)),
             cam_tap(model, -1).module.register_forward_hook(lambda m, i, o: seen.setdefault("tap", o))]
    try:
        out = model(torch.randn(2, 3, 32, 32))
    finally:
        for h in hooks:
            h.remove()
    output_grad, tap_grad = torch.autograd.grad(out[:, 2].sum(), [seen["output"], seen["tap"]])
    patches = slice(vit.num_prefix_tokens, None)
    assert output_grad[:, patches].abs().max() == 0 and tap_grad[:, patches].abs().max() > 0
