"""The release's test protocol: sizes, resampling and multi-scale fusion, against torch and by hand."""
import pytest
import torch
import torch.nn.functional as F

from geoxai.segmenters.base import RELEASE_SCALES, bilinear_taps, network_input_size, parse_scales, upsample_argmax


@pytest.mark.parametrize("h, w, short, expected", [
    (480, 640, 300, (320, 416)),   # scale 0.625 -> 300 x 400 -> rounded up to multiples of 32
    (640, 480, 600, (800, 608)),   # scale 1.25 -> 800 x 600
    (100, 2000, 300, (64, 1024)),  # the 1000-px long-side cap wins: scale 0.5 -> 50 x 1000
    (224, 224, 300, (320, 320)),
    (20, 30, 32, (32, 64)),        # scale 1.6 -> 32 x 48 -> 32 x 64
])
def test_test_size_matches_release_arithmetic(h, w, short, expected):
    assert network_input_size(h, w, short, 1000, 32) == expected


@pytest.mark.parametrize("out_size, in_size", [(7, 3), (3, 7), (50, 13), (13, 13), (1, 5), (5, 1)])
def test_bilinear_taps_equal_torch_interpolate(out_size, in_size):
    x = torch.randn(2, 4, in_size, 6)
    lo, hi, frac = bilinear_taps(out_size, in_size)
    f = frac.view(1, 1, -1, 1)
    ours = x[:, :, lo] * (1 - f) + x[:, :, hi] * f
    ref = F.interpolate(x, size=(out_size, 6), mode="bilinear", align_corners=False)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_bilinear_taps_hand_computed():
    # 2 -> 4: output pixel centres map to -0.25 (clamped to 0), 0.25, 0.75, 1.25 (last row repeats)
    lo, hi, frac = bilinear_taps(4, 2)
    weights = torch.zeros(4, 2)
    weights[torch.arange(4), lo] += 1 - frac
    weights[torch.arange(4), hi] += frac
    assert torch.allclose(weights, torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]))


def test_banded_fusion_equals_full_softmax_average():
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(2, 5, 8, 11, generator=g), torch.randn(2, 5, 12, 17, generator=g)]
    full = sum(F.interpolate(s, size=(37, 53), mode="bilinear", align_corners=False).softmax(1) for s in logits)
    banded = upsample_argmax(logits, (37, 53), band_bytes=2 * 5 * 53 * 4 * 3)  # 3 rows per band
    assert (banded == full.argmax(1)).float().mean() > 0.999
    unbanded = upsample_argmax(logits, (37, 53))  # fits in one band: plain interpolate path
    assert (unbanded == banded).float().mean() > 0.999
    single = upsample_argmax(logits[:1], (37, 53), band_bytes=1)
    ref = F.interpolate(logits[0], size=(37, 53), mode="bilinear", align_corners=False).argmax(1)
    assert (single == ref).float().mean() > 0.999


def test_parse_scales():
    assert parse_scales(300) == (300,)
    assert parse_scales([300, 450]) == (300, 450)
    assert parse_scales("300, 450") == (300, 450)
    assert parse_scales("release") == RELEASE_SCALES == (300, 375, 450, 525, 600)
    for bad in (0, [-1], "big", [], 2.5):
        with pytest.raises(ValueError, match="scales must be"):
            parse_scales(bad)
