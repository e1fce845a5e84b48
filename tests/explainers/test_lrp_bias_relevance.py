"""What LRP's map means on a network with biases (issue 22 §5), proved in float64 on a small
network where every share can be computed by hand.

The epsilon rule of the last layer gives neuron k the share p_k w_kc / z_c of the target's
relevance (1 for a cell), where z_c = sum_k p_k w_kc + b_c: the bias b_c takes b_c / z_c of it and
the input gets (z_c - b_c) / z_c. ``ignore_bias=True`` leaves b_c out of z_c, so the input gets
all of it. The layers below (the flat rule on a first layer without bias, ReLU) conserve what they receive.
"""
import pytest
import torch
from torch import nn

from geoxai.explainers.lrp import LRP
from geoxai.interfaces import GeoModel
from geoxai.testing import synthetic_photo, tiny_partitionings
from geoxai.views import ViewConfig


class SmallNet(GeoModel):
    name = "small-net"
    view_config = ViewConfig(input_size=8, resize_size=9)

    def __init__(self) -> None:
        super().__init__()
        self.partitionings = tiny_partitionings()
        cells = len(self.partitionings[-1])
        torch.manual_seed(0)
        # the first layer gets the flat rule, which conserves exactly without a bias
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16, bias=False), nn.ReLU())
        self.head = nn.Linear(16, cells)
        with torch.no_grad():  # biases large enough to matter
            self.head.bias.copy_(torch.linspace(-2.0, 3.0, cells))
        self.eval()

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))


@pytest.fixture(scope="module")
def model_and_input():
    model = SmallNet().double()
    x = model.as_input(model.prepare([synthetic_photo(seed=s, height=20, width=24) for s in range(3)])).double()
    return model, x


@pytest.mark.filterwarnings("ignore::geoxai.explainers.lrp.LRPCoverageWarning")
def test_the_input_gets_the_score_share_the_bias_does_not_take(model_and_input):
    model, x = model_and_input
    with torch.no_grad():
        scores = model(x)
    cell = int(scores[0].argmax())
    z = scores[:, cell]
    bias_share = model.head.bias[cell] / z
    sums = LRP(epsilon=1e-12, stabilizer=1e-12).explain(model, x, f"cell:{cell}").double().sum((1, 2))
    torch.testing.assert_close(sums, 1 - bias_share, rtol=1e-9, atol=1e-12)
    # and without the bias in the rule, all of it is conserved
    unbiased = LRP(epsilon=1e-12, stabilizer=1e-12, ignore_bias=True)
    conserved = unbiased.explain(model, x, f"cell:{cell}").double().sum((1, 2))
    torch.testing.assert_close(conserved, torch.ones_like(conserved), rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore::geoxai.explainers.lrp.LRPCoverageWarning")
def test_a_bias_that_dominates_the_score_leaves_the_map_a_small_part(model_and_input):
    """As on the real EfficientNet-Lite0 (benchmarks/lrp_conservation.py): when the biases make up
    most of the score, the map sums to a small part of the relevance, with either sign."""
    model, x = model_and_input
    with torch.no_grad():
        pooled_score = model.head(model.pooled(x)) - model.head.bias
        cell = int(model(x)[0].argmax())
        big = model.head.bias.clone()
        big[cell] = 1e4 * pooled_score[:, cell].abs().max()
        model.head.bias.copy_(big)
    try:
        sums = LRP(epsilon=1e-12, stabilizer=1e-12).explain(model, x, f"cell:{cell}").double().sum((1, 2))
    finally:
        with torch.no_grad():
            model.head.bias.copy_(torch.linspace(-2.0, 3.0, len(big)))
    assert torch.all(sums.abs() < 1e-3), sums
    assert torch.all(sums.abs() > 0), sums
