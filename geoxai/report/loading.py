"""Decoding and preprocessing, run in worker processes ahead of the model.

A broken or missing image never stops a report: decoding returns the error as text, and the
image becomes a ``failed`` row.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..interfaces import GeoModel, _to_chw
from ..io.images import center_crop, load_image, resize_short_side


@dataclass(frozen=True)
class StandardView:
    """``GeoModel.view`` for models that keep the default: picklable without the model's weights."""

    resize_size: int
    input_size: int

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return _to_chw(center_crop(resize_short_side(image, self.resize_size), self.input_size))


def view_function(model: GeoModel) -> Callable[[np.ndarray], torch.Tensor]:
    """The model's explained-view transform, as cheap to ship to a worker as possible."""
    if type(model).view is GeoModel.view:
        return StandardView(int(model.resize_size), int(model.input_size))
    return model.view  # a custom view: workers get the model too (fork shares it for free)


def decode(sample: Any, view: Callable[[np.ndarray], torch.Tensor]) -> dict:
    """One dataset sample -> a record with the uint8 view [3, S, S] or the reason it failed."""
    record = {"image_id": str(sample.id), "path": str(sample.image), "lat": float(sample.lat),
              "lon": float(sample.lon), "pixels": None, "error": None}
    try:
        record["pixels"] = view(load_image(sample.image)).numpy()
    except Exception as exc:  # noqa: BLE001 - any decoding failure is recorded, not raised
        record["error"] = _one_line(exc)
    return record


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class DecodingDataset(torch.utils.data.Dataset):
    def __init__(self, samples: Sequence[Any], view: Callable[[np.ndarray], torch.Tensor]) -> None:
        self.samples = list(samples)
        self.view = view

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return decode(self.samples[i], self.view)


def keep_records(batch: list[dict]) -> list[dict]:
    """DataLoader collate: keep the records as they are (some have no pixels)."""
    return batch


def _quiet_worker(_: int) -> None:
    # Decoding needs no intra-op threads; leaving torch's default here would oversubscribe the
    # cores the model is using.
    torch.set_num_threads(1)


def data_loader(samples: Sequence[Any], view, batch_size: int, workers: int) -> torch.utils.data.DataLoader:
    """Batches of decoded records, in dataset order, prefetched by ``workers`` processes."""
    extra: dict[str, Any] = {"prefetch_factor": 4, "worker_init_fn": _quiet_worker} if workers > 0 else {}
    return torch.utils.data.DataLoader(
        DecodingDataset(samples, view), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=keep_records, **extra,
    )
