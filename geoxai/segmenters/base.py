"""Test-time protocol of the ADE20k release, shared by the network-backed segmenters.

For each test scale the image is resized so that its short side is the scale (long side capped at
``max_size``, both sides rounded up to a multiple of ``padding``), normalised with the ImageNet
mean/std on 0-1 RGB and passed through the network. The class scores are upsampled bilinearly to
the image size, turned into probabilities, averaged over the scales, and the argmax is the label.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..interfaces import IMAGENET_MEAN, IMAGENET_STD, Segmenter
from ..options import PositiveInt
from ..types import ImageBatch

#: the release's test scales (short side, pixels) and limits, config/ade20k-hrnetv2.yaml
RELEASE_SCALES = (300, 375, 450, 525, 600)
RELEASE_MAX_SIZE = 1000
RELEASE_PADDING = 32
#: bytes of upsampled class scores held at once; large photos are labelled in row bands
BAND_BYTES = 64 << 20


def parse_scales(scales) -> tuple[int, ...]:
    """``300``, ``[300, 450]``, ``"300,450"`` or ``"release"`` -> a tuple of positive ints."""
    if isinstance(scales, str):
        text = scales.strip().lower()
        if text == "release":
            return RELEASE_SCALES
        scales = [s for s in text.replace(" ", "").split(",") if s]
    if isinstance(scales, (int, float)):
        scales = [scales]
    try:
        out = tuple(int(s) for s in scales)
    except (TypeError, ValueError):
        raise ValueError(f"scales must be a positive int, a list of them or 'release', got {scales!r}") from None
    if not out or any(s <= 0 for s in out) or any(float(s) != int(s) for s in scales):
        raise ValueError(f"scales must be a positive int, a list of them or 'release', got {scales!r}")
    return out


def network_input_size(height: int, width: int, short: int, max_size: int, padding: int) -> tuple[int, int]:
    """Network input size for one scale, as the release's TestDataset computes it."""
    scale = min(short / min(height, width), max_size / max(height, width))
    h, w = int(height * scale), int(width * scale)
    return max(padding, math.ceil(h / padding) * padding), max(padding, math.ceil(w / padding) * padding)


def bilinear_taps(out_size: int, in_size: int, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """1-D bilinear resampling with align_corners=False (torch's convention): output i reads input
    rows ``lo[i]`` and ``hi[i]`` with weights ``1 - frac[i]`` and ``frac[i]``."""
    dst = torch.arange(out_size, dtype=torch.float64, device=device)
    src = ((dst + 0.5) * (in_size / out_size) - 0.5).clamp(min=0)
    lo = src.floor().long().clamp(max=in_size - 1)
    hi = (lo + 1).clamp(max=in_size - 1)
    frac = (src - lo).clamp(0, 1).float()
    return lo, hi, frac


def upsample_argmax(logits: Sequence[torch.Tensor], size: tuple[int, int],
                    band_bytes: int = BAND_BYTES) -> torch.Tensor:
    """Labels [B, H, W] from per-scale class scores [B, C, h_s, w_s].

    Equals argmax over the mean of softmax(interpolate(l, size, bilinear)) but upsamples one band
    of output rows at a time, so a 12-megapixel photo never needs its full [C, H, W] score volume.
    Bilinear resampling is separable: each band's few input rows are resized along the width by
    torch, then blended along the height.
    """
    height, width = size
    batch, classes = logits[0].shape[:2]
    device = logits[0].device
    taps = [bilinear_taps(height, scale.shape[-2], device) for scale in logits]
    band = max(1, band_bytes // max(1, batch * classes * width * 4))
    if band >= height:  # small enough to upsample in one go (the usual 224-px views)
        total = None
        for scale in logits:
            part = F.interpolate(scale.float(), size=size, mode="bilinear", align_corners=False)
            part = part.softmax(1) if len(logits) > 1 else part
            total = part if total is None else total + part
        assert total is not None  # logits holds at least one scale
        return total.argmax(1)
    labels = torch.empty(batch, height, width, dtype=torch.long, device=device)
    for top in range(0, height, band):
        bottom = min(height, top + band)
        total = None
        for scale, (lo, hi, frac) in zip(logits, taps):
            lo, hi, frac = lo[top:bottom], hi[top:bottom], frac[top:bottom]
            first, last = int(lo.min()), int(hi.max()) + 1  # the few input rows this band reads
            rows = F.interpolate(scale[:, :, first:last].float(), size=(last - first, width), mode="bilinear",
                                 align_corners=False)
            f = frac.view(1, 1, -1, 1)
            part = rows[:, :, lo - first] * (1 - f) + rows[:, :, hi - first] * f
            if len(logits) > 1:  # argmax of one scale's probabilities is argmax of its scores
                part = part.softmax(1)
            total = part if total is None else total + part
        assert total is not None
        labels[:, top:bottom] = total.argmax(1)
    return labels


def as_pixels(images: ImageBatch | torch.Tensor) -> torch.Tensor:
    pixels = images.pixels if isinstance(images, ImageBatch) else images
    if not isinstance(pixels, torch.Tensor) or pixels.dtype != torch.uint8 or pixels.ndim != 4 \
            or pixels.shape[1] != 3:
        got = f"{pixels.dtype} {tuple(pixels.shape)}" if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"segment() takes uint8 RGB images [B, 3, H, W], got {got}")
    return pixels


class ScaledSegmenter(Segmenter):
    """A network that maps normalised images to class scores, run with the release's test protocol."""

    def __init__(self, network: nn.Module, concepts: Sequence[str], scales=RELEASE_SCALES[0],
                 max_size: PositiveInt = RELEASE_MAX_SIZE, padding: PositiveInt = RELEASE_PADDING,
                 batch_size: PositiveInt = 4,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 device=None) -> None:
        if int(batch_size) < 1 or int(max_size) < 1 or int(padding) < 1:
            raise ValueError(f"batch_size, max_size and padding must be >= 1, got {batch_size}, {max_size}, {padding}")
        if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
            raise ValueError(f"mean and std need 3 values (std > 0), got {mean!r} and {std!r}")
        self.concepts = list(concepts)
        self.scales = parse_scales(scales)
        self.max_size, self.padding, self.batch_size = int(max_size), int(padding), int(batch_size)
        self.network = network.eval()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        # built on the CPU like a model; ``device`` (or .to later) moves it, never silently to CUDA
        self.to(device if device is not None else "cpu")

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores [B, C, h, w] for normalised input [B, 3, H, W]."""
        return self.network(x)

    def prepare(self, pixels: torch.Tensor, short: int) -> torch.Tensor:
        """Pixels [B, 3, H, W] (uint8 or float 0-255) -> normalised network input at one test scale."""
        size = network_input_size(pixels.shape[-2], pixels.shape[-1], short, self.max_size, self.padding)
        x = pixels.to(self.device, torch.float32)
        if size != tuple(x.shape[-2:]):
            # antialiased bilinear resizing stands in for the release's PIL bilinear resize
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return (x / 255.0 - self.mean) / self.std

    @torch.inference_mode()
    def segment(self, images: ImageBatch | torch.Tensor) -> torch.Tensor:
        pixels = as_pixels(images)
        size = (int(pixels.shape[-2]), int(pixels.shape[-1]))
        out = []
        for start in range(0, len(pixels), self.batch_size):
            # on the device and in float once, not once per test scale
            chunk = pixels[start:start + self.batch_size].to(self.device, torch.float32)
            logits = [self.scores(self.prepare(chunk, short)) for short in self.scales]
            if logits[0].shape[1] != len(self.concepts):
                raise ValueError(f"segmenter {self.name!r}: the network gives {logits[0].shape[1]} class scores "
                                 f"but {len(self.concepts)} concepts are named")
            out.append(upsample_argmax(logits, size).cpu())
        if not out:
            return torch.empty(0, *size, dtype=torch.long)
        return torch.cat(out)
