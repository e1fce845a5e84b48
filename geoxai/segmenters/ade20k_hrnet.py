"""The ADE20k scene parser used by the SemP paper (Sec. 4.2.1): HRNetV2-W48 + C1 decoder.

The official CSAILVision checkpoints ``ade20k-hrnetv2-c1/encoder_epoch_30.pth`` and
``decoder_epoch_30.pth`` load with strict key matching; inference follows the release's test
protocol (see ``base``), one scale by default.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from ..concepts import ade20k_concepts
from ..options import PositiveInt
from ._checkpoint import load_strict
from .base import RELEASE_MAX_SIZE, RELEASE_PADDING, ScaledSegmenter
from .hrnet import OUT_CHANNELS, HRNetV2, ReleaseBatchNorm2d

ENCODER_WEIGHTS = "ade20k-hrnetv2-c1-encoder"
DECODER_WEIGHTS = "ade20k-hrnetv2-c1-decoder"
ENCODER_FILE = "encoder_epoch_30.pth"
DECODER_FILE = "decoder_epoch_30.pth"
_BOOKKEEPING = ("num_batches_tracked",) + ReleaseBatchNorm2d.BOOKKEEPING


class C1(nn.Module):
    """The release's one-conv decoder: 3x3 conv-BN-ReLU to a quarter of the width, 1x1 to classes.

    Returns raw class scores at the encoder's 1/4 resolution; upsampling and softmax happen in
    the segmenter so that several scales can be averaged the way the release does.
    """

    def __init__(self, num_class: int = 150, fc_dim: int = OUT_CHANNELS) -> None:
        super().__init__()
        hidden = fc_dim // 4
        self.cbr = nn.Sequential(nn.Conv2d(fc_dim, hidden, 3, 1, 1, bias=False),
                                 ReleaseBatchNorm2d(hidden, momentum=0.001), nn.ReLU(inplace=True))
        self.conv_last = nn.Conv2d(hidden, num_class, 1, 1, 0)

    def forward(self, conv_out: list[torch.Tensor]) -> torch.Tensor:
        return self.conv_last(self.cbr(conv_out[-1]))


class EncoderDecoder(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x, return_feature_maps=True))


class ADE20kHRNet(ScaledSegmenter):
    """ADE20k (150 concepts) segmentation with the HRNetV2-W48 + C1 release.

    Options: ``pretrained`` (official weights from the cache or a download), ``weights`` (a folder
    holding encoder_epoch_30.pth and decoder_epoch_30.pth), ``encoder_weights`` / ``decoder_weights``
    (single files; they win over ``weights``), ``scales`` (short sides; 300 by default, a list
    for multi-scale averaging, ``"release"`` for the release's five), ``max_size``, ``padding``,
    ``batch_size``, ``device``, ``seed`` (initialisation of parts that get no weights).
    """

    name = "ade20k-hrnet"

    #: weights= is a folder holding these files (file name -> registered weight file): the
    #: missing-weights message names both
    weights_folder = {ENCODER_FILE: ENCODER_WEIGHTS, DECODER_FILE: DECODER_WEIGHTS}

    def __init__(self, pretrained: bool = True, weights: str | os.PathLike | None = None,
                 encoder_weights: str | os.PathLike | None = None,
                 decoder_weights: str | os.PathLike | None = None, scales=300,
                 max_size: PositiveInt = RELEASE_MAX_SIZE, padding: PositiveInt = RELEASE_PADDING,
                 batch_size: PositiveInt = 2,
                 device=None, seed: int = 0) -> None:
        concepts = ade20k_concepts()
        # paths first: a wrong folder or a missing download fails before the 65M-parameter build
        encoder_path, decoder_path = self._weight_paths(pretrained, weights, encoder_weights, decoder_weights)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder, decoder = HRNetV2(), C1(len(concepts), OUT_CHANNELS)
        if encoder_path is not None:
            load_strict(encoder, encoder_path, "HRNetV2-W48 encoder", optional=_BOOKKEEPING)
        if decoder_path is not None:
            load_strict(decoder, decoder_path, "C1 decoder (150 ADE20k classes)", optional=_BOOKKEEPING)
        self.pretrained = encoder_path is not None and decoder_path is not None
        super().__init__(EncoderDecoder(encoder, decoder), concepts, scales=scales, max_size=max_size,
                         padding=padding, batch_size=batch_size, device=device)

    @staticmethod
    def _weight_paths(pretrained, weights, encoder_weights, decoder_weights):
        if weights is not None:
            folder = Path(weights).expanduser()
            if not folder.is_dir():
                raise ValueError(f"{folder}: ade20k-hrnet weights= must be a folder holding {ENCODER_FILE} and "
                                 f"{DECODER_FILE} (use encoder_weights= / decoder_weights= for single files)")
            encoder_weights = encoder_weights if encoder_weights is not None else folder / ENCODER_FILE
            decoder_weights = decoder_weights if decoder_weights is not None else folder / DECODER_FILE
        for given in (encoder_weights, decoder_weights):
            if given is not None and not Path(given).expanduser().is_file():
                raise FileNotFoundError(f"{Path(given).expanduser()}: ade20k-hrnet weights file not found")
        if pretrained:
            from ..weights import resolve

            if encoder_weights is None:
                encoder_weights = resolve(ENCODER_WEIGHTS)
            if decoder_weights is None:
                decoder_weights = resolve(DECODER_WEIGHTS)
        return encoder_weights, decoder_weights
