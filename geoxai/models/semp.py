"""SemP (Theiner et al., WACV 2022): a multi-partition classifier over semantic places.

One CNN (ResNet-50 in the paper, EfficientNet-B4 in the public release) with one linear head per
SemP partitioning (coarse -> fine). By default the prediction is the most probable cell of the
finest partitioning (the paper's ``f``, its best variant); ``hierarchical=True`` gives ``f*``.
Each cell is a real place, so predictions come with a label such as
"Eixample, Barcelona, Catalonia, Spain" besides the cell's mean training coordinate.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from ..partitions.semp import SemPHierarchy
from ..partitions.semp_files import HIERARCHY, load_semp, read_hierarchy, read_public_partitionings
from ..types import Partitioning
from .multipartition import MultiPartitionGeoModel, read_checkpoint

RELEASE_WEIGHTS = "semp_100_125_250"


class SemPModel(MultiPartitionGeoModel):
    """SemP geolocator.

    Options:
        pretrained: load the public release (``semp_100_125_250``, downloaded into the weights
            cache) when ``weights`` is not given. With ``pretrained=False`` and no ``weights`` the
            network is randomly initialised over ``partitions``.
        weights: the release ``.zip``, its unpacked folder, its ``hparams.yaml``, or a checkpoint file
            (Lightning ``.ckpt`` or state_dict; then ``partitions`` is required).
        partitions: a directory written by ``geoxai partition build --kind semp`` (or with the
            release's ``m_<n>.csv`` + ``h_dict.json``); overrides the release's partition files.
        hierarchical: predict with f* instead of f.
        backbone: ``resnet50`` (paper) or ``efficientnet_b4`` (release); a release sets it.
        input_size: crop size (the release's ``image_size``; default 224).
        crop_aggregation: ``max`` over the five test crops (the public evaluation code) or ``mean``
            (the paper's text).
    """

    name = "semp"

    def __init__(
        self,
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
        partitions: str | os.PathLike | None = None,
        hierarchical: bool = False,
        backbone: str | None = None,
        input_size: int | None = None,
        crop_aggregation: str = "max",
        strict: bool = True,
    ) -> None:
        hierarchy: SemPHierarchy | None = None
        checkpoint: Path | None = None
        parts: list[Partitioning] | None = None
        if partitions is not None:
            parts, hierarchy = load_semp(partitions)
        if weights is None and pretrained:
            from ..weights import resolve

            weights = resolve(RELEASE_WEIGHTS)
        release = None
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.exists():
                raise FileNotFoundError(f"{path}: SemP weights do not exist")
            if path.is_dir() or path.suffix in (".zip", ".yaml", ".yml"):
                from .semp_release import open_release

                release = open_release(path)
                checkpoint = release.checkpoint
                backbone = backbone or release.arch
                input_size = input_size or release.image_size
                if parts is None:
                    parts = _release_partitionings(release)
                    if (release.directory / HIERARCHY).exists():
                        hierarchy = read_hierarchy(release.directory / HIERARCHY)
            else:
                checkpoint = path
        if parts is None:
            raise ValueError("the semp model needs its partitionings: pass partitions=DIR "
                             "(from `geoxai partition build --kind semp`) or the release with weights=PATH")
        size = int(input_size or 224)
        super().__init__(
            parts, backbone=backbone or "resnet50", hierarchical=hierarchical, input_size=size,
            # the public evaluation resizes to 320 and, for crops below 250 px, again to 256
            resize_size=256 if size < 250 else 320, tta_resizes=(320, 256) if size < 250 else (320,),
            crop_aggregation=crop_aggregation,
        )
        self.hierarchy = hierarchy
        if hierarchy is not None:
            _label_from_hierarchy(self.partitionings, hierarchy)
        if checkpoint is not None:
            self.from_state_dict(read_checkpoint(checkpoint), strict=strict, source=str(checkpoint))
        self.eval()

    def region_cells(self, node: str) -> torch.Tensor:
        """Finest cells below a hierarchy location named by key (``"ES"``, ``"ES/Catalonia"``),
        name (``"Spain"``) or cell label; falls back to the partitionings' own keys and labels."""
        if self.hierarchy is not None:
            wanted = node.casefold()
            h = self.hierarchy
            nodes = {k for k in h.parent if k.casefold() == wanted or h.names.get(k, "").casefold() == wanted}
            if nodes:
                hits = [i for i, k in enumerate(self.finest.keys) if k in h and nodes.intersection(h.path(k))]
                return torch.as_tensor(hits, dtype=torch.long)
        return super().region_cells(node)

    def describe(self) -> dict:
        info = super().describe()
        info["hierarchy_locations"] = len(self.hierarchy.parent) if self.hierarchy is not None else 0
        return info


def _release_partitionings(release) -> list[Partitioning]:
    import json

    h_dict = json.loads(release.h_dict.read_text(encoding="utf-8")) if release.h_dict else None
    names = release.shortnames if len(release.shortnames) == len(release.partition_files) else None
    return read_public_partitionings(release.partition_files, h_dict, names=names, **release.columns)


def _label_from_hierarchy(parts: Sequence[Partitioning], hierarchy: SemPHierarchy) -> None:
    """Give cells without a readable label (e.g. bare OSM ids) the path label from the hierarchy."""
    for part in parts:
        labels = list(part.labels) if part.labels else list(part.keys)
        for i, key in enumerate(part.keys):
            if labels[i] == key and key in hierarchy:
                labels[i] = hierarchy.label(key)
        part.labels = labels
