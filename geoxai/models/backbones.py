"""Feature extractors for the multi-partition geolocators, laid out like the authors' releases.

The module trees are built so that the parameter names equal those in the public checkpoints:

* ResNet (TIBHannover/GeoEstimation, PyTorch release): a ``torch.nn.Sequential`` of the torchvision
  ResNet children without ``avgpool``/``fc`` (keys ``0.*`` stem conv, ``1.*`` stem BN, ``4.*`` ...
  ``7.*`` = layer1 ... layer4), followed by a parameter-free global pooling and flatten.
* EfficientNet (jtheiner/semantic_geo_partitioning, WACV'22 release): the attribute names of the
  ``efficientnet_pytorch`` package (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), with
  TensorFlow "same" padding, BatchNorm eps 1e-3 and swish, and the final ``_fc`` removed.

Each builder returns ``(module, n_features, cam_layers, default_cam_layer)``; the layer paths are
relative to the backbone module.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def normalize_arch(arch: str) -> str:
    """'efficientnet-b4', 'EfficientNet_B4' -> 'efficientnet_b4'; ResNet names unchanged."""
    name = str(arch).strip().lower().replace("-", "_")
    if name in RESNETS or re.fullmatch(r"efficientnet_b[0-7]", name):
        return name
    raise ValueError(f"unsupported backbone {arch!r}; use one of {', '.join(RESNETS)} or efficientnet_b0..b7")


def build_backbone(arch: str):
    arch = normalize_arch(arch)
    if arch.startswith("resnet"):
        return resnet_backbone(arch)
    return efficientnet_backbone(arch)


# ---- ResNet --------------------------------------------------------------------------------------
def resnet_backbone(arch: str = "resnet50"):
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    n_features = net.fc.in_features
    body = nn.Sequential(*list(net.children())[:-2])  # conv1 bn1 relu maxpool layer1..4
    body.add_module("avgpool", nn.AdaptiveAvgPool2d(1))
    body.add_module("flatten", nn.Flatten(1))
    cam_layers = {f"layer{i}": str(3 + i) for i in range(1, 5)}
    return body, n_features, cam_layers, "layer4"


# ---- EfficientNet --------------------------------------------------------------------------------
# (width, depth, native resolution) per variant, from the EfficientNet paper.
EFFICIENTNET_COEFFICIENTS = {
    "efficientnet_b0": (1.0, 1.0, 224), "efficientnet_b1": (1.0, 1.1, 240),
    "efficientnet_b2": (1.1, 1.2, 260), "efficientnet_b3": (1.2, 1.4, 300),
    "efficientnet_b4": (1.4, 1.8, 380), "efficientnet_b5": (1.6, 2.2, 456),
    "efficientnet_b6": (1.8, 2.6, 528), "efficientnet_b7": (2.0, 3.1, 600),
}
# B0 stages: (repeats, kernel, stride, expand ratio, in channels, out channels); SE ratio 0.25.
EFFICIENTNET_B0_STAGES = (
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
)
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:  # never round down by more than 10 %
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (asymmetric for even sizes), computed per input size.

    For the size a checkpoint was trained at this equals efficientnet_pytorch's static padding.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


@dataclass(frozen=True)
class _BlockSpec:
    kernel: int
    stride: int
    expand: int
    cin: int
    cout: int
    se_ratio: float = 0.25


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation (inference path; no drop-connect)."""

    def __init__(self, spec: _BlockSpec):
        super().__init__()
        mid = spec.cin * spec.expand
        if spec.expand != 1:
            self._expand_conv = SamePadConv2d(spec.cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = SamePadConv2d(mid, mid, spec.kernel, stride=spec.stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        squeezed = max(1, int(spec.cin * spec.se_ratio))
        self._se_reduce = SamePadConv2d(mid, squeezed, 1, bias=True)
        self._se_expand = SamePadConv2d(squeezed, mid, 1, bias=True)
        self._project_conv = SamePadConv2d(mid, spec.cout, 1)
        self._bn2 = nn.BatchNorm2d(spec.cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.residual = spec.stride == 1 and spec.cin == spec.cout

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if hasattr(self, "_expand_conv"):
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        gate = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = self._bn2(self._project_conv(torch.sigmoid(gate) * x))
        return x + inputs if self.residual else x


class EfficientNetFeatures(nn.Module):
    """EfficientNet-B* up to the pooled, flattened head features (``_fc`` and dropout removed)."""

    def __init__(self, arch: str = "efficientnet_b4"):
        super().__init__()
        width, depth, self.native_resolution = EFFICIENTNET_COEFFICIENTS[arch]
        stem = round_filters(32, width)
        self._conv_stem = SamePadConv2d(3, stem, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(stem, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._stem_act = nn.SiLU()
        blocks, self.stage_ends = [], []
        for repeats, kernel, stride, expand, cin, cout in EFFICIENTNET_B0_STAGES:
            cin, cout = round_filters(cin, width), round_filters(cout, width)
            for r in range(round_repeats(repeats, depth)):
                spec = _BlockSpec(kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout)
                blocks.append(MBConvBlock(spec))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self.n_features = round_filters(1280, width)
        self._conv_head = SamePadConv2d(round_filters(320, width), self.n_features, 1)
        self._bn1 = nn.BatchNorm2d(self.n_features, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._head_act = nn.SiLU()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._head_act(self._bn1(self._conv_head(x)))
        return self._avg_pooling(x).flatten(1)


def efficientnet_backbone(arch: str = "efficientnet_b4"):
    net = EfficientNetFeatures(arch)
    cam_layers = {f"stage{i + 1}": f"_blocks.{end}" for i, end in enumerate(net.stage_ends)}
    cam_layers["head"] = "_head_act"
    return net, net.n_features, cam_layers, "head"
