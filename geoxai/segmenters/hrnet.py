"""HRNetV2-W48, the encoder of the ADE20k ``ade20k-hrnetv2-c1`` release (CSAILVision).

Written so that the released ``encoder_epoch_30.pth`` loads with strict key matching: every
submodule sits at the same dotted path as in the release (``conv1``, ``layer1.0.conv1``,
``transition2.2.0.0``, ``stage4.2.fuse_layers.3.0.0.0`` ...). Slots that hold no module in the
release (identity transitions, the diagonal of the fuse matrix) are ``None`` entries of a
``ModuleList`` so that the indices of their neighbours stay the same.

The encoder returns one feature map: the four branches upsampled to the 1/4-resolution branch and
concatenated, 48 + 96 + 192 + 384 = 720 channels.
"""
from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_MOMENTUM = 0.1
#: (modules, blocks per branch, channels per branch) of stages 2-4 of the W48 variant.
W48_STAGES = (
    (1, (4, 4), (48, 96)),
    (4, (4, 4, 4), (48, 96, 192)),
    (3, (4, 4, 4, 4), (48, 96, 192, 384)),
)
OUT_CHANNELS = sum(W48_STAGES[-1][2])


class ReleaseBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that also carries the release's synchronised-BN bookkeeping buffers.

    The release trained with a synchronised BatchNorm that keeps three extra buffers
    (``_tmp_running_mean``, ``_tmp_running_var``, ``_running_iter``) and saved them in its
    checkpoints. They play no part in inference; having them here lets those checkpoints load
    with strict key matching.
    """

    BOOKKEEPING = ("_tmp_running_mean", "_tmp_running_var", "_running_iter")

    def __init__(self, num_features: int, momentum: float = 0.1) -> None:
        super().__init__(num_features, momentum=momentum)
        self.register_buffer("_tmp_running_mean", torch.zeros(num_features))
        self.register_buffer("_tmp_running_var", torch.ones(num_features))
        self.register_buffer("_running_iter", torch.ones(1))


def _bn(channels: int) -> ReleaseBatchNorm2d:
    return ReleaseBatchNorm2d(channels, momentum=BN_MOMENTUM)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), _bn(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = _bn(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def _residual_stack(block, cin: int, planes: int, count: int) -> nn.Sequential:
    cout = planes * block.expansion
    downsample = None
    if cin != cout:
        downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))
    blocks = [block(cin, planes, 1, downsample)]
    blocks += [block(cout, planes) for _ in range(count - 1)]
    return nn.Sequential(*blocks)


class HighResolutionModule(nn.Module):
    """Parallel branches at 1/4, 1/8, ... resolution followed by all-to-all fusion."""

    def __init__(self, blocks: tuple[int, ...], channels: tuple[int, ...]):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            _residual_stack(BasicBlock, channels[i], channels[i], blocks[i]) for i in range(n)
        )
        # None where a branch feeds itself: torch allows it, and the release's state-dict indices need it
        self.fuse_layers = nn.ModuleList(nn.ModuleList(self._fuse(j, i, channels) for j in range(n))  # type: ignore[misc]
                                         for i in range(n))
        self.relu = nn.ReLU(inplace=False)

    @staticmethod
    def _fuse(src: int, dst: int, channels: tuple[int, ...]) -> nn.Module | None:
        if src == dst:
            return None
        if src > dst:  # lower resolution: 1x1 projection here, bilinear upsampling in forward
            return _conv_bn(channels[src], channels[dst], 1, 1, relu=False)
        # higher resolution: one stride-2 3x3 conv per halving; only the last one changes width
        steps = dst - src
        convs = [_conv_bn(channels[src], channels[src], 3, 2, relu=True) for _ in range(steps - 1)]
        convs.append(_conv_bn(channels[src], channels[dst], 3, 2, relu=False))
        return nn.Sequential(*convs)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = None
            for j, layer in enumerate(cast(nn.ModuleList, row)):  # summed in branch order, as the release does
                z = xs[j] if layer is None else layer(xs[j])
                if j > i:
                    z = F.interpolate(z, size=xs[i].shape[-2:], mode="bilinear", align_corners=False)
                y = z if y is None else y + z
            fused.append(self.relu(y))
        return fused


class HRNetV2(nn.Module):
    """HRNetV2-W48 feature extractor: normalised float input [B,3,H,W] -> [[B,720,H/4,W/4]]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = _bn(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = _bn(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _residual_stack(Bottleneck, 64, 64, 4)

        previous = (64 * Bottleneck.expansion,)
        for number, (modules, blocks, channels) in enumerate(W48_STAGES, start=2):
            setattr(self, f"transition{number - 1}", self._transition(previous, channels))
            setattr(self, f"stage{number}",
                    nn.Sequential(*(HighResolutionModule(blocks, channels) for _ in range(modules))))
            previous = channels

    @staticmethod
    def _transition(before: tuple[int, ...], after: tuple[int, ...]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, cout in enumerate(after):
            if i < len(before):
                layers.append(None if before[i] == cout else _conv_bn(before[i], cout, 3, 1, relu=True))
            else:
                # a new, coarser branch grown from the coarsest existing one
                cin = before[-1]
                extra = i + 1 - len(before)
                layers.append(nn.Sequential(*(
                    _conv_bn(cin, cout if k == extra - 1 else cin, 3, 2, relu=True) for k in range(extra)
                )))
        return nn.ModuleList(layers)  # type: ignore[arg-type]  # None entries: as in __init__ above

    def forward(self, x: torch.Tensor, return_feature_maps: bool = False) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for number in range(2, 2 + len(W48_STAGES)):
            transition = getattr(self, f"transition{number - 1}")
            xs = []
            for i, layer in enumerate(transition):
                if i < len(ys):
                    xs.append(ys[i] if layer is None else layer(ys[i]))
                else:
                    xs.append(layer(ys[-1]))
            ys = getattr(self, f"stage{number}")(xs)
        size = ys[0].shape[-2:]
        ups = [ys[0]] + [F.interpolate(y, size=size, mode="bilinear", align_corners=False) for y in ys[1:]]
        return [torch.cat(ups, 1)]
