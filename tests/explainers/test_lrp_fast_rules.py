"""The LRP fast path computes zennit's relevance bit for bit, and its cheap guards still catch what
the per-call snapshot caught."""
import copy

import pytest
import torch
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat
from zennit.rules import ZPlus

from geoxai.explainers import lrp as lrp_module
from geoxai.explainers.lrp import LRP, parameters_fingerprint, restored_exactly
from geoxai.explainers.lrp_rules import NonNegativeZPlus


def _relevance(rule, conv, x):
    with Gradient(conv, EpsilonPlusFlat(layer_map=[(nn.Conv2d, rule)], first_map=[(nn.Conv2d, rule)])) as attr:
        out = conv(x)
        _, relevance = attr(x, torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype))
    return relevance


@pytest.mark.parametrize("signed", [False, True], ids=["relu-output", "signed-input"])
def test_non_negative_zplus_is_zennit_zplus_bit_for_bit(signed):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1).double()
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    x = x if signed else x.relu()
    ours = _relevance(NonNegativeZPlus(), copy.deepcopy(conv), x)
    reference = _relevance(ZPlus(), copy.deepcopy(conv), x)
    assert torch.equal(ours, reference)


def test_the_zero_branch_is_skipped_only_for_non_negative_inputs(monkeypatch):
    calls = []
    original = ZPlus.backward
    monkeypatch.setattr(ZPlus, "backward", lambda self, *a: calls.append(1) or original(self, *a))
    conv = nn.Conv2d(3, 4, 3)
    for x in (torch.rand(1, 3, 6, 6), torch.randn(1, 3, 6, 6)):
        _relevance(NonNegativeZPlus(), conv, x)
    assert calls == [1]  # zennit's two-branch code ran for the signed input only


def test_resnet_canonization_is_proved_once_per_parameter_state(resnet_model, resnet_batch, monkeypatch):
    forwards = []
    real = lrp_module._clean_scores_if_unproved

    def counted(*args):
        clean = real(*args)
        forwards.append(clean is not None)
        return clean

    monkeypatch.setattr(lrp_module, "_clean_scores_if_unproved", counted)
    first = LRP().explain(resnet_model, resnet_batch, "cell:2")
    second = LRP().explain(resnet_model, resnet_batch, "cell:2")
    assert torch.equal(first, second)
    with torch.no_grad():
        resnet_model.net.fc.weight.add_(0.0)  # an in-place write: the state must be proved again
    LRP().explain(resnet_model, resnet_batch, "cell:2")
    assert forwards == [True, False, True]  # a clean forward on the first call and after the write only


def test_a_model_left_changed_is_caught_on_the_first_and_on_later_calls():
    model = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(RuntimeError, match="did not restore"):
        with restored_exactly(model):
            model[0].weight.data.mul_(2)  # through .data: no version bump, only the value check sees it
    with restored_exactly(model):  # proves the (changed) state as the new reference
        pass
    with pytest.raises(RuntimeError, match="replaced"):
        with restored_exactly(model):
            model[0].weight = nn.Parameter(model[0].weight.detach().clone())
    assert parameters_fingerprint(model) != ()
