import copy

import pytest
import torch
from zennit.attribution import Gradient
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

from geoxai.explainers.lrp import LRP


def test_resnet_equals_zennit_reference(resnet_model, resnet_batch):
    x = resnet_model.as_input(resnet_batch)
    reference_model = copy.deepcopy(resnet_model)
    with Gradient(reference_model, EpsilonPlusFlat(canonizers=[ResNetCanonizer()])) as attributor:
        _, relevance = attributor(x, torch.eye(8)[[2, 2]])
    torch.testing.assert_close(LRP().explain(resnet_model, resnet_batch, "cell:2"), relevance.sum(1))
    torch.testing.assert_close(LRP(reduce="max").explain(resnet_model, resnet_batch, "cell:2"), relevance.amax(1))


def test_tiny_model_inplace_relu_equals_out_of_place(tiny_model, tiny_batch):
    from geoxai.testing import TinyGeoModel

    x = tiny_model.as_input(tiny_batch)
    plain = TinyGeoModel(seed=0, inplace=False)
    with Gradient(plain, EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])) as attributor:
        _, relevance = attributor(x, torch.eye(8)[[1] * 4])
    ours = LRP().explain(tiny_model, tiny_batch, "cell:1")
    torch.testing.assert_close(ours, relevance.sum(1))
    assert (ours.abs().sum((1, 2)) > 0).all()


def test_bad_reduce(tiny_model, tiny_batch):
    with pytest.raises(ValueError, match="reduce"):
        LRP(reduce="mean").explain(tiny_model, tiny_batch)
