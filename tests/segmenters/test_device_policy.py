"""One device policy for segmenters, as for models: built on the CPU, moved with .to(device)."""
from __future__ import annotations

import pytest
import torch

from geoxai.contract import check_segmenter
from geoxai.interfaces import Segmenter
from geoxai.segmenters.base import ScaledSegmenter
from geoxai.testing import TinySegmenter


def _scaled(**options) -> ScaledSegmenter:
    net = torch.nn.Conv2d(3, 4, 1)
    return ScaledSegmenter(net, ["a", "b", "c", "d"], scales=32, **options)


def test_default_device_is_the_cpu_even_when_cuda_is_present(monkeypatch):
    """The old default was CUDA whenever torch saw a GPU, so HRNet ignored --device cpu."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    seg = _scaled()
    assert seg.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in seg.network.parameters())
    assert seg.mean.device.type == "cpu"


def test_to_moves_network_and_constants_and_returns_the_segmenter():
    seg = _scaled()
    before = seg.network.weight
    assert seg.to("meta") is seg and seg.device == torch.device("meta")
    assert seg.network.weight.device.type == "meta" and seg.mean.device.type == "meta"
    assert seg.std.device.type == "meta" and before.device.type == "cpu"


def test_segment_runs_on_the_segmenter_device_and_returns_cpu_labels(photos):
    seen = []

    class Recorder(TinySegmenter):
        def segment(self, images):
            seen.append((self.device, self.weight.device))
            return super().segment(images)

    seg = Recorder()
    seg._device = torch.device("meta")  # as if it had been built elsewhere: .to sets where it runs
    masks = check_segmenter(seg.to("cpu"), photos[:2])
    assert masks.device.type == "cpu"
    assert seen and all(d == torch.device("cpu") and w.type == "cpu" for d, w in seen)


def test_contract_requires_cpu_labels_and_a_working_to(photos):
    class GpuLabels(TinySegmenter):
        def segment(self, images):
            return super().segment(images).to("meta")

    class NoChain(TinySegmenter):
        def to(self, device):
            super().to(device)  # forgets to return self

    with pytest.raises(AssertionError, match="labels on the CPU"):
        check_segmenter(GpuLabels(), photos[:2])
    with pytest.raises(AssertionError, match="return it"):
        check_segmenter(NoChain(), photos[:2])
    assert issubclass(TinySegmenter, Segmenter) and Segmenter.to is not None
