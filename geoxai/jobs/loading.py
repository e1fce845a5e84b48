"""Decoding and preprocessing of a job's images, run in worker processes ahead of the model.

A broken or missing image never stops a report: decoding returns the error as text, and the
image becomes a ``failed`` row.
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..interfaces import GeoModel
from ..io.images import load_image, storable_name
from ..messages import squeezed


def view_function(model: GeoModel) -> Callable[[np.ndarray], torch.Tensor]:
    """The model's explained-view transform: its ``view_config`` (plain data, cheap to ship to a
    worker process) unless the model replaces ``view`` with code of its own. A black-box
    geolocator (``geoxai.blackbox.Geolocator``) declares its view as data."""
    if not isinstance(model, GeoModel) or type(model).view is GeoModel.view:
        return model.view_config
    return model.view  # a custom view: workers get the model too (fork shares it for free)


def test_time_function(model: GeoModel) -> Callable[[np.ndarray], torch.Tensor]:
    """The model's test-time views transform, as ``view_function`` (data unless overridden)."""
    if type(model).test_time_views is GeoModel.test_time_views and type(model).view is GeoModel.view:
        return model.view_config.test_time_views
    return model.test_time_views


def decode(sample: Any, view: Callable[[np.ndarray], torch.Tensor],
           test_time: Callable[[np.ndarray], torch.Tensor] | None = None) -> dict:
    """One dataset sample -> a record with the uint8 view [3, S, S] (and, given ``test_time``,
    the test-time views [n, 3, S, S] as ``test_time_pixels``) or the reason it failed."""
    record = {"image_id": str(sample.id), "path": storable_name(str(sample.image)), "lat": float(sample.lat),
              "lon": float(sample.lon), "pixels": None, "error": None}
    try:
        image = load_image(sample.image)
        record["pixels"] = view(image).numpy()
        if test_time is not None:
            record["test_time_pixels"] = test_time(image).numpy()
    except Exception as exc:  # noqa: BLE001 - any decoding failure is recorded, not raised
        record["pixels"] = None
        record["error"] = squeezed(str(exc)) or type(exc).__name__
    return record


class DecodingDataset(torch.utils.data.Dataset):
    def __init__(self, samples: Sequence[Any], view: Callable[[np.ndarray], torch.Tensor],
                 test_time: Callable[[np.ndarray], torch.Tensor] | None = None) -> None:
        self.samples = list(samples)
        self.view = view
        self.test_time = test_time

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return decode(self.samples[i], self.view, self.test_time)


def keep_records(batch: list[dict]) -> list[dict]:
    """DataLoader collate: keep the records as they are (some have no pixels)."""
    return batch


def _quiet_worker(_: int) -> None:
    # Decoding needs no intra-op threads; leaving torch's default here would oversubscribe the
    # cores the model is using.
    torch.set_num_threads(1)
    # Ctrl-C is the main process's to handle: it stops the run, commits the rows it holds and
    # shuts the workers down. A worker that got the SIGINT too would die mid-item and leave
    # torch waiting out its worker-join timeout.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def data_loader(samples: Sequence[Any], view, batch_size: int, workers: int,
                test_time=None) -> torch.utils.data.DataLoader:
    """Batches of decoded records, in dataset order, prefetched by ``workers`` processes."""
    extra: dict[str, Any] = {"prefetch_factor": 4, "worker_init_fn": _quiet_worker} if workers > 0 else {}
    return torch.utils.data.DataLoader(
        DecodingDataset(samples, view, test_time), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=keep_records, **extra,
    )
