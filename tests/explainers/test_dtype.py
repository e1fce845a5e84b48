"""Explainers keep the model's dtype: a float64 model is explained in float64 and gives float64
maps (the tests prove "the same function" that way); every other model gives float32 maps."""
import copy

import pytest
import torch
from fidelity import assert_faithful

import geoxai


@pytest.mark.parametrize("name, options", [
    ("ig-smoothgrad", {"n_samples": 2, "n_steps": 4, "seed": 0}),
    ("gradcam", {}),
    ("combicam", {}),
    ("lrp", {}),
])
def test_float64_model_gives_float64_maps_of_the_float32_function(name, options, tiny_model, tiny_batch):
    explainer = geoxai.load_explainer(name, **options)
    maps32 = explainer.explain(tiny_model, tiny_batch)
    model64 = copy.deepcopy(tiny_model).double()
    maps64 = explainer.explain(model64, tiny_batch)
    assert maps32.dtype == torch.float32 and maps64.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in model64.parameters())  # left as it was found
    # the float64 computation was not rounded on the way: it differs from the float32 one ...
    assert not torch.equal(maps64.float().double(), maps64)
    # ... and the float32 map is a faithful rounding of it
    assert_faithful(maps32, maps64)
