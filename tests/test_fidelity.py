"""The shared fidelity helper (tests/fidelity.py) must be able to fail."""
import pytest
import torch
from fidelity import assert_faithful, relative_l2, spearman, top_k_overlap


def test_measures_on_known_maps():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 32, 32, generator=g)
    assert spearman(ref[0], ref[0]) == pytest.approx(1.0)
    assert spearman(-ref[0], ref[0]) == pytest.approx(-1.0)
    assert top_k_overlap(ref[0], ref[0]) == 1.0 and relative_l2(ref, ref) == 0.0
    assert relative_l2(ref * 1.01, ref) == pytest.approx(0.01, rel=1e-5)
    assert_faithful(ref + 1e-6 * torch.randn(ref.shape, generator=g), ref)


@pytest.mark.parametrize("damage, message", [
    (lambda r: r.flip(-1), "Spearman"),          # another map altogether
    (lambda r: r * 1.01, "relative L2"),         # right ranking, 1 % off everywhere
])
def test_unfaithful_maps_fail(damage, message):
    ref = torch.rand(2, 32, 32, generator=torch.Generator().manual_seed(1))
    with pytest.raises(AssertionError, match=message):
        assert_faithful(damage(ref), ref)


def test_top_k_swap_fails():
    ref = torch.arange(1024.0).view(32, 32)
    swapped = ref.clone().flatten()
    swapped[-51:], swapped[:51] = ref.flatten()[:51].clone(), ref.flatten()[-51:].clone()
    with pytest.raises(AssertionError, match="overlap"):
        assert_faithful(swapped.view(32, 32), ref, min_spearman=-1, max_relative_l2=10)
