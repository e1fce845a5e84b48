"""The data that flows between geoxai's stages.

image -> ImageBatch -> GeoModel -> GeoPrediction / Target -> Explainer -> map [B, H, W]
image -> Segmenter -> LongTensor [B, H, W] -> concept influence
"""
from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch


@dataclass
class ImageBatch:
    """Images as the model sees them, before normalisation.

    ``pixels`` is a uint8 tensor [B, 3, H, W] (RGB) of the exact view a model explains, so
    that a segmentation of the same pixels lines up with the explanation map.
    """

    pixels: torch.Tensor
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pixels.dtype != torch.uint8 or self.pixels.ndim != 4 or self.pixels.shape[1] != 3:
            raise ValueError(
                f"ImageBatch.pixels must be uint8 [B, 3, H, W], got {self.pixels.dtype} {tuple(self.pixels.shape)}"
            )
        if not self.ids:
            self.ids = [str(i) for i in range(len(self.pixels))]
        if len(self.ids) != len(self.pixels):
            raise ValueError(f"ImageBatch has {len(self.pixels)} images but {len(self.ids)} ids")

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[2]), int(self.pixels.shape[3])

    def to_numpy(self) -> np.ndarray:
        """[B, H, W, 3] uint8, convenient for plotting."""
        return self.pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    @classmethod
    def stack(cls, views: Sequence[torch.Tensor], ids: Sequence[str] | None = None) -> ImageBatch:
        return cls(torch.stack(list(views)), list(ids) if ids is not None else [])


@dataclass
class Partitioning:
    """One partitioning of the earth into cells (classes).

    ``parent[i]`` is the index of cell i's cell in the next coarser partitioning of the same
    model (-1 where there is none, e.g. for the coarsest partitioning).
    """

    name: str
    keys: list[str]
    lat: np.ndarray
    lon: np.ndarray
    labels: list[str] | None = None
    parent: np.ndarray | None = None
    counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.lat = np.asarray(self.lat, dtype=np.float64)
        self.lon = np.asarray(self.lon, dtype=np.float64)
        n = len(self.keys)
        if self.lat.shape != (n,) or self.lon.shape != (n,):
            raise ValueError(
                f"partitioning {self.name!r}: {n} keys but lat/lon shapes {self.lat.shape}/{self.lon.shape}")
        if self.parent is not None:
            self.parent = np.asarray(self.parent, dtype=np.int64)
        if self.counts is not None:
            self.counts = np.asarray(self.counts, dtype=np.int64)
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"partitioning {self.name!r}: {n} keys but {len(self.labels)} labels")
        self._index = {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def index_of(self, key: str) -> int:
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"cell {key!r} is not in partitioning {self.name!r}") from None

    def label(self, i: int) -> str:
        return self.labels[i] if self.labels else self.keys[i]

    # Our own interchange format: one row per cell.
    COLUMNS = ("index", "key", "lat", "lon", "label", "parent", "count")

    def to_csv(self, path: str | os.PathLike) -> None:
        from .io.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.COLUMNS)
            for i, key in enumerate(self.keys):
                writer.writerow([
                    i, key, repr(float(self.lat[i])), repr(float(self.lon[i])),
                    self.labels[i] if self.labels else "",
                    int(self.parent[i]) if self.parent is not None else -1,
                    int(self.counts[i]) if self.counts is not None else "",
                ])

    @classmethod
    def from_csv(cls, path: str | os.PathLike, name: str | None = None) -> Partitioning:
        """Read ``to_csv``'s format (through ``geoxai.io.tables``: a missing column, a short row
        or a bad number is a one-line ValueError naming the file)."""
        from .io.tables import TableError, read_table

        path = Path(path)
        try:
            table = read_table(path, required=["index", "key", "lat", "lon"],
                               optional=[("label", ("label",)), "parent", "count"], what="partitioning file")
            order = np.argsort(table.ints("index"), kind="stable")
            lat, lon = table.floats("lat")[order], table.floats("lon")[order]
            if "parent" in table:  # an empty parent cell: no parent
                table.frame["parent"] = table.frame["parent"].replace("", "-1")
            parent = table.ints("parent")[order] if "parent" in table else None
            counts = table.strings("count") if "count" in table else []
            count = table.ints("count")[order] if counts and all(counts) else None
        except TableError as exc:
            raise ValueError(f"{exc}; a geoxai partitioning file has columns {', '.join(cls.COLUMNS)}") from None
        keys = [table.strings("key")[i] for i in order]
        labels = [table.strings("label")[i] for i in order] if "label" in table else []
        return cls(
            name=name or path.stem, keys=keys, lat=lat, lon=lon,
            labels=labels if any(labels) else None,
            parent=parent if parent is not None else np.full(len(keys), -1),
            counts=count,
        )


@dataclass
class CellScore:
    cell: int
    probability: float
    lat: float
    lon: float
    label: str


@dataclass
class GeoPrediction:
    """A model's answer for one image: the top cell of its finest partitioning and its location."""

    cell: int
    lat: float
    lon: float
    label: str
    probability: float
    top_k: list[CellScore] = field(default_factory=list)
    image_id: str | None = None
    #: the protocol the prediction was made with: "single" (the explained view) or "test-time"
    views: str | None = None
    #: probability per country and continent, and the ocean share (``geoxai.countries.top_countries``)
    top_countries: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Attribution:
    """What one ``Explainer.explain_with_info`` call returns (nothing is kept on the explainer).

    ``maps``: float32 [B, H, W] on the CPU (float64 for a float64 model), as ``explain`` returns;
    ``info``: one JSON-able dict per image (e.g. ig-smoothgrad's completeness and remaining noise),
    or None; ``logits``: the clean images' scores [B, C] when the method computed them anyway
    (the pipeline then predicts and binds the target from them instead of another forward pass)."""

    maps: torch.Tensor
    info: list[dict] | None = None
    logits: torch.Tensor | None = None

    def __post_init__(self) -> None:
        count = self.maps.shape[0]
        if self.info is not None and (len(self.info) != count or not all(isinstance(i, dict) for i in self.info)):
            raise ValueError(f"Attribution.info must be one dict per image ({count}), got {self.info!r:.80}")
        if self.logits is not None and (self.logits.ndim != 2 or self.logits.shape[0] != count):
            raise ValueError(f"Attribution.logits must be [{count}, C], got {tuple(self.logits.shape)}")
