"""Label maps as files: paletted PNGs in the ADE20k colours and per-concept area fractions."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..concepts import ade20k_palette
from ..io.atomic import atomic_path, write_text_atomic


def palette(num_concepts: int) -> np.ndarray:
    """uint8 [n, 3]: the ADE20k colours first, then fixed pseudo-random colours past class 150."""
    if not 0 < num_concepts <= 256:
        raise ValueError(f"a paletted PNG holds 1 to 256 classes, not {num_concepts}")
    colours = ade20k_palette()
    if num_concepts > len(colours):
        extra = np.random.default_rng(150).integers(0, 256, size=(num_concepts - len(colours), 3), dtype=np.uint8)
        colours = np.concatenate([colours, extra])
    return colours[:num_concepts]


def _labels_array(labels: torch.Tensor | np.ndarray) -> np.ndarray:
    array = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 2:
        raise ValueError(f"a label map is [H, W], got shape {array.shape}")
    return array


#: the PNG value of pixels without a concept (negative labels), drawn black
UNLABELLED = 255


def label_map_image(labels: torch.Tensor | np.ndarray, num_concepts: int = 150) -> Image.Image:
    """A ``P``-mode image whose pixel values are the concept indices and whose palette is ADE20k's;
    pixels without a concept (negative labels, e.g. no text) get value 255, drawn black."""
    array = _labels_array(labels)
    if array.size and array.max() >= num_concepts:
        raise ValueError(f"label map has values outside 0..{num_concepts - 1}")
    unlabelled = array < 0
    if unlabelled.any() and num_concepts > UNLABELLED:
        raise ValueError(f"a paletted PNG holds unlabelled pixels only with at most {UNLABELLED} concepts")
    image = Image.fromarray(np.where(unlabelled, UNLABELLED, array).astype(np.uint8), mode="P")
    colours = np.zeros((256 if unlabelled.any() else num_concepts, 3), dtype=np.uint8)
    colours[:num_concepts] = palette(num_concepts)
    image.putpalette(colours.reshape(-1).tolist())
    return image


def concept_fractions(labels: torch.Tensor | np.ndarray, concepts: Sequence[str]) -> dict[str, float]:
    """Concept name -> share of the pixels it covers, largest first (absent concepts left out;
    pixels without a concept count in the image, for no concept)."""
    array = _labels_array(labels).reshape(-1)
    counts = np.bincount(array[array >= 0], minlength=len(concepts))[: len(concepts)]
    total = array.size
    if total == 0:
        return {}
    order = sorted(np.flatnonzero(counts).tolist(), key=lambda i: (-counts[i], i))
    return {concepts[i]: float(counts[i] / total) for i in order}


def save_label_map(path: str | os.PathLike, labels: torch.Tensor | np.ndarray, num_concepts: int = 150) -> Path:
    """Write the label map as a paletted PNG (atomically) and return its path."""
    path = Path(path)
    image = label_map_image(labels, num_concepts)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def save_fractions(path: str | os.PathLike, fractions: dict[str, Any]) -> Path:
    """Write a JSON document (the area fractions, or the regions a segmenter read) atomically."""
    path = Path(path)
    text = json.dumps(fractions, indent=2, ensure_ascii=False) + "\n"
    write_text_atomic(path, text)
    return path
