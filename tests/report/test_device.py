"""``geoxai report --device`` reaches the segmenter too (it used to keep its own CUDA default)."""
from __future__ import annotations

import torch
from _report_helpers import make_dataset
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.hookspecs import hookimpl
from geoxai.plugins import register_plugin
from geoxai.testing import TinySegmenter

RAN_ON: list[str] = []


class DeviceRecorder(TinySegmenter):
    """Built the way the old segmenters were on a GPU machine: device set to CUDA at construction
    (the label only, so the test runs anywhere); records the device each segment() call ran on."""

    name = "device-recorder"

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._device = torch.device("cuda")

    def segment(self, images):
        RAN_ON.append(f"{self.device.type}/{self.weight.device.type}")
        return super().segment(images)


class _Plugin:
    @hookimpl
    def register_segmenters(self, register):
        register("device-recorder", DeviceRecorder, description="test: records its device")


def test_report_device_cpu_moves_the_segmenter(tmp_path):
    register_plugin(_Plugin(), "device-recorder-test")
    RAN_ON.clear()
    data = make_dataset(tmp_path / "data", n=3)
    result = CliRunner().invoke(main, ["report", "--model", "tiny", "--explainer", "gradcam",
                                       "--segmenter", "device-recorder", "--k", "300", "--min-images", "1",
                                       "--data", str(data), "--out", str(tmp_path / "out"), "--workers", "0",
                                       "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert RAN_ON and set(RAN_ON) == {"cpu/cpu"}, RAN_ON
