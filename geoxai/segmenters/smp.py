"""Bring your own segmentation model: any segmentation-models-pytorch architecture + a class list.

The model is built with ``encoder_weights=None`` (smp would otherwise fetch ImageNet encoder
weights from a hub) and then, if given, loaded strictly from ``weights=PATH`` (a plain
``torch.save(model.state_dict())`` file). It runs with the same test protocol as the ADE20k
release (short-side scales, ImageNet normalisation, bilinear upsampling, argmax).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..concepts import ade20k_concepts
from ..options import PositiveInt
from ._checkpoint import load_strict
from .base import IMAGENET_MEAN, IMAGENET_STD, RELEASE_MAX_SIZE, RELEASE_PADDING, ScaledSegmenter


def read_classes(classes: str | os.PathLike | Sequence[str] | None) -> list[str]:
    """A class list, or a text file with one class name per line (blank lines ignored)."""
    if classes is None:
        return ade20k_concepts()
    if isinstance(classes, (str, os.PathLike)):
        path = Path(classes).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: class list file not found")
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError:
            raise ValueError(f"{path}: class list is not UTF-8 text") from None
        where = str(path)
    else:
        names = [str(c).strip() for c in classes]
        where = "classes"
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"{where}: the class list is empty")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{where}: duplicate class names: {', '.join(duplicates[:5])}")
    return names


class SmpSegmenter(ScaledSegmenter):
    """A segmentation-models-pytorch model as a geoxai segmenter.

    Options: ``arch`` (smp architecture, default ``FPN``), ``encoder`` (default ``mobilenet_v2``),
    ``weights`` (state_dict file of that model; without it the weights are random),
    ``classes`` (list or file, default the 150 ADE20k concepts), ``scales``, ``max_size``,
    ``padding``, ``batch_size``, ``mean``, ``std``, ``device``, ``seed``; anything else is passed
    to ``smp.create_model`` (e.g. ``encoder_depth``, ``decoder_channels``).
    """

    name = "smp"

    @classmethod
    def random_weights_for(cls, weights: str | os.PathLike | None = None, **_: object) -> bool:
        return weights is None

    def __init__(self, arch: str = "FPN", encoder: str = "mobilenet_v2",
                 weights: str | os.PathLike | None = None,
                 classes: str | os.PathLike | Sequence[str] | None = None, scales=300,
                 max_size: PositiveInt = RELEASE_MAX_SIZE, padding: PositiveInt = RELEASE_PADDING,
                 batch_size: PositiveInt = 4,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 device=None, seed: int = 0, **model_options) -> None:
        import segmentation_models_pytorch as smp

        concepts = read_classes(classes)
        model_options.pop("encoder_weights", None)  # never download: weights come from weights=
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                network = smp.create_model(arch, encoder_name=encoder, encoder_weights=None, in_channels=3,
                                           classes=len(concepts), **model_options)
            except KeyError as exc:
                detail = str(exc.args[0] if exc.args else exc).splitlines()[0]
                raise ValueError(f"smp segmenter: cannot build arch={arch!r} encoder={encoder!r}: {detail}") from None
            except TypeError as exc:
                raise ValueError(f"smp segmenter: bad model option for {arch!r}: {exc}") from None
        if weights is not None:
            load_strict(network, weights, f"smp {arch}/{encoder} model with {len(concepts)} classes")
        self.arch, self.encoder = arch, encoder
        self.random_weights = weights is None
        super().__init__(network, concepts, scales=scales, max_size=max_size, padding=padding,
                         batch_size=batch_size, mean=mean, std=std, device=device)
