"""Conservative LRP for transformers (Ali et al. 2022): relevance is conserved with biases off."""
import warnings

import pytest
import torch
from _vit_models import FAMILIES, ViTGeo
from _vit_models import attention_state as _attention_state

from geoxai.explainers.lrp import LRP
from geoxai.explainers.lrp_transformer import conservative_relevance, conservative_rules
from geoxai.vit import L2Normalize

CONSTANTS = ("bias", "pos_embed", "cls_token", "reg_token", "class_embedding", "position_embedding", "class_token",
             "pos_embedding", "probe")


def _biases_off(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(key in name.rsplit(".", 1)[-1] or key in name for key in CONSTANTS):
                p.zero_()
    return model


def _logit(model, x, cell):
    with torch.no_grad():
        return model(x)[:, cell]


@pytest.mark.parametrize("family", FAMILIES)
def test_input_relevance_sums_to_the_logit(family, photos):
    model = _biases_off(ViTGeo(family, depth=3))
    x = model.as_input(model.prepare(photos[:2]))
    logit = _logit(model, x, 4)
    maps = LRP().explain(model, x, "cell:4")
    torch.testing.assert_close(maps.sum((1, 2)).double(), logit.double(), rtol=0.01, atol=1e-4)
    assert logit.abs().min() > 1e-2  # not a trivially zero score
    # plain gradient x input of the same network is not conserved: the rules are what makes it so
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg)[:, 4].sum(), xg)
    plain = (xg * grad).sum((1, 2, 3)).detach()
    assert not torch.allclose(plain, logit, rtol=0.05)


def test_rules_are_removed_and_the_forward_is_unchanged(photos):
    model = ViTGeo("clip")
    x = model.as_input(model.prepare(photos[:2]))
    state, reference = _attention_state(model), _logit(model, x, 1)
    with conservative_rules(model), torch.no_grad():
        torch.testing.assert_close(model(x)[:, 1], reference, rtol=1e-4, atol=1e-5)
        assert _attention_state(model) != state
    assert _attention_state(model) == state


def test_cosine_head_norm_is_a_constant():
    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(6, 4, bias=False), L2Normalize(dim=1))
    gallery = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    x = torch.randn(2, 6)

    def score(out):
        return (out @ gallery.t())[:, 2]

    relevance = conservative_relevance(head, x, score)
    torch.testing.assert_close(relevance.sum(1), score(head(x)).detach())


def test_lrp_on_a_vit_gives_no_approximation_warning(photos):
    model = ViTGeo("torchvision")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = LRP(reduce="max").explain(model, model.prepare(photos[:2]))
    assert maps.shape == (2, 32, 32)
