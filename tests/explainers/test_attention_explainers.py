"""Attention rollout and gradient-attention against direct implementations of their papers' rules."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _vit_models import ViTGeo

from geoxai.explainers.attention_rollout import AttentionRollout, rollout
from geoxai.explainers.gradient_attention import GradientAttention


def test_rollout_of_a_hand_computed_two_block_case():
    a1 = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]])  # [B=1, heads=2, 2, 2]
    a2 = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.5, 0.5]]]])
    # block 1: heads' mean [[.75, .25], [0, 1]]; 0.5 A + 0.5 I = [[.875, .125], [0, 1]]
    # block 2: mean [[0, 1], [.75, .25]];       0.5 A + 0.5 I = [[.5, .5], [.375, .625]]
    # rollout = block2 @ block1 = [[.4375, .5625], [.328125, .671875]]
    expected = torch.tensor([[[0.4375, 0.5625], [0.328125, 0.671875]]], dtype=torch.float64)
    torch.testing.assert_close(rollout([a1, a2]), expected)


def _timm_attention(model, x, keep_graph=False):
    """Each block's softmax attention, read with our own hooks on timm's unfused path."""
    blocks = model.net.blocks
    seen = []
    for block in blocks:
        block.attn.fused_attn = False
    handles = [b.attn.attn_drop.register_forward_hook(lambda m, i, o: seen.append(o)) for b in blocks]
    try:
        with torch.set_grad_enabled(keep_graph):
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        for block in blocks:
            block.attn.fused_attn = True
    return out, seen


def _upsampled(row, size=32):
    return F.interpolate(torch.as_tensor(row).view(-1, 1, 4, 4).double(), size=(size, size), mode="bilinear",
                         align_corners=False)[:, 0]


@pytest.fixture
def vit():
    return ViTGeo("timm", depth=3).double()


@pytest.fixture
def x(vit, photos):
    return vit.as_input(vit.prepare(photos[:2])).double()


@pytest.mark.parametrize("last", [None, 2])
def test_attention_rollout_equals_the_paper_on_a_timm_vit(vit, x, last):
    _, attention = _timm_attention(vit, x)
    used = attention if last is None else attention[-last:]
    rows = []
    for b in range(x.shape[0]):
        result = np.eye(17)
        for a in used:
            mixed = 0.5 * a[b].mean(0).numpy() + 0.5 * np.eye(17)
            result = mixed @ result
        rows.append(result[0, 1:])
    ours = AttentionRollout(last_blocks=last).explain(vit, x)
    torch.testing.assert_close(ours, _upsampled(np.stack(rows)), rtol=1e-5, atol=1e-6)
    assert torch.equal(ours, AttentionRollout(last_blocks=last).explain(vit, x, "cell:1"))  # class-agnostic


@pytest.mark.parametrize("last", [None, 1])
def test_gradient_attention_equals_the_papers_rule(vit, x, last):
    xg = x.clone().requires_grad_(True)
    out, attention = _timm_attention(vit, xg, keep_graph=True)
    grads = torch.autograd.grad(out[:, 5].sum(), attention)
    blocks = range(len(attention)) if last is None else range(len(attention) - last, len(attention))
    rows = []
    for b in range(x.shape[0]):
        relevance = np.eye(17)
        for i in blocks:  # R <- R + E_h[(grad A * A)^+] R
            a, g = attention[i][b].detach().numpy(), grads[i][b].numpy()
            heads = [np.maximum(g[h] * a[h], 0) for h in range(a.shape[0])]
            relevance = relevance + (sum(heads) / len(heads)) @ relevance
        rows.append(relevance[0, 1:])
    ours = GradientAttention(last_blocks=last).explain(vit, x, "cell:5")
    torch.testing.assert_close(ours, _upsampled(np.stack(rows)), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours, GradientAttention(last_blocks=last).explain(vit, x, "cell:0"))


def test_no_class_token_averages_patch_rows_and_bad_options_fail(photos):
    model = ViTGeo("siglip")
    batch = model.prepare(photos[:2])
    maps = AttentionRollout(normalize=True).explain(model, batch)
    assert maps.shape == (2, 32, 32) and maps.max() <= 1
    with pytest.raises(ValueError, match="last_blocks must be 1..2"):
        GradientAttention(last_blocks=3).explain(model, batch)
    with pytest.raises(ValueError, match="head_fusion"):
        AttentionRollout(head_fusion="median").explain(model, batch)


def test_attention_explainers_need_a_vit(tiny_model, tiny_batch):
    with pytest.raises(ValueError, match="no vision transformer"):
        GradientAttention().explain(tiny_model, tiny_batch)
