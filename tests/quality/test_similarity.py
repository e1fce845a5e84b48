"""Map similarity against scipy / skimage references, in float64."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from geoxai.quality import relative_l2, spearman, ssim, topk_overlap


def _maps(seed: int, shape=(3, 20, 24)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_spearman_equals_scipy_with_ties():
    a, b = _maps(0), _maps(1)
    a = (a * 5).floor()  # many ties
    b = 0.5 * a + b
    ours = spearman(a, b).numpy()
    ref = [scipy.stats.spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(3)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(spearman(a, a).numpy(), 1.0)
    np.testing.assert_allclose(spearman(a, -a).numpy(), -1.0)
    assert np.isnan(spearman(torch.ones(1, 4, 4), a[:1, :4, :4]).numpy()).all()


def test_ssim_equals_skimage_on_normalised_maps():
    from skimage.metrics import structural_similarity

    a, b = _maps(2, (2, 32, 40)), _maps(3, (2, 32, 40))
    b = 0.7 * a + 0.3 * b
    ours = ssim(a, b).numpy()
    for i in range(2):
        na = (a[i] - a[i].min()) / (a[i].max() - a[i].min())
        nb = (b[i] - b[i].min()) / (b[i].max() - b[i].min())
        ref = structural_similarity(na.numpy(), nb.numpy(), gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0)
        np.testing.assert_allclose(ours[i], ref, rtol=1e-10)
    np.testing.assert_allclose(ssim(a, a).numpy(), 1.0)


def test_topk_overlap_and_relative_l2_by_hand():
    a = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    b = torch.tensor([[[4.0, 1.0], [3.0, 2.0]]])
    assert topk_overlap(a, b, k=2).item() == pytest.approx(0.5)  # {0, 1} vs {0, 2}
    assert topk_overlap(a, b, k=4).item() == pytest.approx(1.0)
    assert relative_l2(a, b).item() == pytest.approx(np.sqrt(0 + 4 + 1 + 1) / np.sqrt(16 + 1 + 9 + 4))


def test_shape_mismatch_is_one_line():
    with pytest.raises(ValueError, match="same shape"):
        spearman(torch.rand(2, 4, 4), torch.rand(2, 4, 5))
