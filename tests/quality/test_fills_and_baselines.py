"""Fills (ROAD's imputation above all) and the baseline maps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geoxai.quality import centre_bias_maps, smooth_random_maps, spearman
from geoxai.quality.fills import gaussian_blur, road_impute, static_fill


def test_road_reproduces_a_linear_ramp_inside_a_hole():
    # the weighted neighbour mean of a linear function is the function itself, so noise-free ROAD
    # recovers a removed block of a ramp exactly
    h, w = 12, 14
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    image = torch.stack([0.3 * yy + 0.1 * xx, -0.2 * xx, 0.05 * yy])
    removed = torch.zeros(h, w, dtype=torch.bool)
    removed[3:9, 4:10] = True
    filled = road_impute(image, removed, noise=0.0)
    torch.testing.assert_close(filled, image, rtol=0, atol=1e-9)


def test_road_noise_is_seeded_and_only_on_removed_pixels():
    image = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(0))
    removed = torch.rand(10, 10, generator=torch.Generator().manual_seed(1)) < 0.3
    a = road_impute(image, removed, noise=0.01, generator=torch.Generator().manual_seed(5))
    b = road_impute(image, removed, noise=0.01, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:, ~removed], image[:, ~removed])
    assert not torch.allclose(a[:, removed], image[:, removed])
    whole = road_impute(image, torch.ones(10, 10, dtype=torch.bool), noise=0.0)
    torch.testing.assert_close(whole, image.mean(dim=(1, 2), keepdim=True).expand_as(image))


def test_static_fills():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    mean = static_fill(x, "mean")
    torch.testing.assert_close(mean[:, :, 3, 5], x.mean(dim=(2, 3)))
    blurred = gaussian_blur(x, 2.0)
    assert blurred.std() < x.std() and blurred.shape == x.shape
    torch.testing.assert_close(blurred.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.02, rtol=0)
    noise = static_fill(x, "noise", seed=3)
    torch.testing.assert_close(noise, static_fill(x, "noise", seed=3))
    assert not torch.equal(noise, static_fill(x, "noise", seed=4))
    with pytest.raises(ValueError, match="depends on the removed"):
        static_fill(x, "road")


def test_smooth_random_maps_are_smooth_and_reproducible():
    maps = smooth_random_maps(4, (64, 64), cells=7, seed=0)
    torch.testing.assert_close(maps, smooth_random_maps(4, (64, 64), cells=7, seed=0))
    assert not torch.equal(maps, smooth_random_maps(4, (64, 64), cells=7, seed=1))
    # neighbouring pixels almost agree; two different maps do not
    shifted = spearman(maps[:, :, 1:], maps[:, :, :-1]).numpy()
    assert (shifted > 0.95).all()
    assert abs(spearman(maps[:1], maps[1:2]).item()) < 0.5


def test_centre_bias_peaks_at_the_centre():
    m = centre_bias_maps(1, (9, 11))[0]
    assert np.unravel_index(int(m.argmax()), m.shape) == (4, 5)
    assert m[0, 0] < m[4, 0] < m[4, 5]
