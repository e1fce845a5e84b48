"""s2: the hierarchical multi-partition geolocator base(M, f*) of Müller-Budack et al. (ECCV 2018).

A CNN with three heads over adaptive S2 cell partitionings, coarse / middle / fine (tau_min 50,
tau_max 5000 / 2000 / 1000 on MP-16). ``hierarchical=True`` (default, the paper's f*) scores each
fine cell by the product of its own and its ancestors' probabilities; ``False`` uses the fine head
alone (f). A predicted class is placed at the mean location of that cell's training photos.

Weights:
    * ``pretrained=True``: the registered release weights (ResNet-50: TIBHannover/GeoEstimation
      PyTorch release with its three ``cells_50_*.csv``; EfficientNet-B4: the WACV'22 ``s2.zip``);
    * ``weights=PATH``: a Lightning ``.ckpt``/state_dict (then ``partitions=DIR`` gives the
      official CSV files), or a release archive (``.zip`` or unpacked folder with hparams.yaml);
    * ``pretrained=False``: random weights over ``partitions=DIR`` or synthetic S2 cells.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import s2sphere
import torch

from ..options import PositiveInt
from ..partitions.s2 import id_to_token, link_s2_hierarchy, read_s2_partitioning, read_s2_partitionings
from ..types import Partitioning
from ..views import ViewConfig
from .multipartition import MultiPartitionGeoModel, five_crop_view
from .release import is_release, open_release, release_image_size, release_view

#: |C| of coarse / middle / fine in the paper (Table 1) and in the official CSV files
PAPER_NUM_CLASSES = (3298, 7202, 12893)
SHORTNAMES = ("coarse", "middle", "fine")
DEFAULT_INPUT_SIZE = 224
OFFICIAL_PARTITION_WEIGHTS = ("s2-cells-50-5000", "s2-cells-50-2000", "s2-cells-50-1000")
CHECKPOINT_WEIGHTS = {"resnet50": "s2-geoestimation-resnet50", "efficientnet_b4": "s2-wacv22-efficientnet-b4"}


class S2Model(MultiPartitionGeoModel):
    """base(M, f*) over S2 cells; see the module docstring for the options."""

    name = "s2"

    def __init__(
        self,
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
        partitions: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        hierarchical: bool = True,
        backbone: str | None = None,
        num_classes: int | Sequence[int] | None = None,
        seed: int = 0,
        input_size: PositiveInt | None = None,
        crop_aggregation: str = "max",
        strict: bool = True,
    ) -> None:
        release = None
        if weights is not None and is_release(weights):
            release = open_release(weights)
        elif weights is None and pretrained and (backbone or "resnet50").replace("-", "_") == "efficientnet_b4":
            from ..weights import resolve

            release = open_release(resolve(CHECKPOINT_WEIGHTS["efficientnet_b4"]))
        if release is not None:
            with release as rel:
                arch = rel.arch
                if backbone is not None and backbone.replace("-", "_") != arch.replace("-", "_"):
                    raise ValueError(f"{rel.source}: archive holds a {arch} model, not {backbone}")
                parts = _partitions(partitions) if partitions is not None else \
                    _named(read_s2_partitionings(rel.partition_files()), rel.shortnames())
                self._build(parts, arch, hierarchical, release_view(input_size or rel.image_size),
                            crop_aggregation, init_weights=not strict)
                self.load_checkpoint(rel.checkpoint, strict=strict)
                self.weights_source: str | None = str(rel.source)
                self.random_weights = False
            return
        arch = backbone or "resnet50"
        if weights is not None or pretrained:
            if weights is None:
                from ..weights import resolve

                key = CHECKPOINT_WEIGHTS.get(arch.replace("-", "_"))
                if key is None:
                    raise ValueError(f"no pretrained s2 weights for backbone {arch!r}; pass weights=PATH")
                weights = resolve(key)
            if partitions is None:
                if not pretrained:
                    raise ValueError(f"{weights}: a checkpoint needs its partition files; pass partitions=DIR")
                from ..weights import resolve

                partitions = [resolve(name) for name in OFFICIAL_PARTITION_WEIGHTS]
            parts = _partitions(partitions)
        elif partitions is not None:
            parts = _partitions(partitions)
        else:
            parts = synthetic_s2_partitionings(num_classes or PAPER_NUM_CLASSES)
        if num_classes is not None and partitions is not None:
            got = tuple(len(p) for p in parts)
            if tuple(np.atleast_1d(num_classes)) != got:
                raise ValueError(f"num_classes={num_classes} but the partition files have {got} cells")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._build(parts, arch, hierarchical, five_crop_view(input_size or DEFAULT_INPUT_SIZE), crop_aggregation,
                        init_weights=weights is None or not strict)
        self.weights_source = None
        self.random_weights = weights is None  # pretrained=False without weights=
        if weights is not None:
            self.load_checkpoint(weights, strict=strict)
            self.weights_source = str(weights)

    @classmethod
    def random_weights_for(cls, pretrained: bool = True, weights: str | os.PathLike | None = None,
                           **_: object) -> bool:
        return weights is None and not pretrained

    @classmethod
    def view_config_for(cls, pretrained: bool = True, weights: str | os.PathLike | None = None,
                        backbone: str | None = None, input_size: int | None = None, **_: object) -> ViewConfig:
        """The view of ``S2Model(**options)``, read from the options and (for a release archive)
        its hparams.yaml: no checkpoint is read. A release gets the WACV'22 evaluation view, any
        other s2 model GeoEstimation's (ImageNet resize ratio, five crops)."""
        release = weights if weights is not None and is_release(weights) else None
        if weights is None and pretrained and (backbone or "resnet50").replace("-", "_") == "efficientnet_b4":
            from ..weights import resolve

            release = resolve(CHECKPOINT_WEIGHTS["efficientnet_b4"])
        if release is not None:
            return release_view(input_size or release_image_size(release))
        return five_crop_view(input_size or DEFAULT_INPUT_SIZE)

    def _build(self, parts, arch, hierarchical, view: ViewConfig, crop_aggregation, init_weights=True) -> None:
        super().__init__(parts, backbone=arch, hierarchical=hierarchical, view_config=view,
                         crop_aggregation=crop_aggregation, init_weights=init_weights)

    def describe(self):
        info = super().describe()
        info["weights"] = self.weights_source
        return info


def _named(parts: list[Partitioning], names: Sequence[str]) -> list[Partitioning]:
    if len(names) == len(parts):
        for part, name in zip(parts, names):
            part.name = name
    return parts


def _partitions(source) -> list[Partitioning]:
    parts = read_s2_partitionings(source)
    return _named(parts, SHORTNAMES) if len(parts) == 3 else parts


def synthetic_s2_partitionings(num_classes: int | Sequence[int] = (3, 6, 12)) -> list[Partitioning]:
    """Nested S2 partitionings with exactly ``num_classes`` cells per level, for random-weight
    builds: coarse cells are spread over the six faces at level 3, each finer cell is a distinct
    descendant of a coarser one, located at its cell centre."""
    sizes = [int(n) for n in np.atleast_1d(num_classes)]
    if not sizes or min(sizes) < 1 or sizes != sorted(sizes):
        raise ValueError(f"num_classes must be positive and non-decreasing coarse -> fine, got {num_classes}")
    per_face = -(-sizes[0] // 6)
    level = max(3, int(np.ceil(np.log(per_face) / np.log(4))) + 1 if per_face > 1 else 3)
    stride = 4 ** level // per_face  # spread a face's cells over the whole face
    cells = [s2sphere.CellId.from_face_pos_level(i % 6, 0, 0).child_begin(level).advance(i // 6 * stride)
             for i in range(sizes[0])]
    levels = [cells]
    for n in sizes[1:]:
        coarse = levels[-1]
        per_parent = -(-n // len(coarse))
        depth = max(1, int(np.ceil(np.log(per_parent) / np.log(4))) if per_parent > 1 else 1)
        level = coarse[0].level() + depth
        levels.append([coarse[j % len(coarse)].child_begin(level).advance(j // len(coarse)) for j in range(n)])
    parts = []
    for name, ids in zip(SHORTNAMES if len(sizes) == 3 else [f"level{i}" for i in range(len(sizes))], levels):
        centres = [c.to_lat_lng() for c in ids]
        parts.append(Partitioning(name, keys=[id_to_token(c.id()) for c in ids],
                                  lat=np.array([p.lat().degrees for p in centres]),
                                  lon=np.array([p.lng().degrees for p in centres])))
    link_s2_hierarchy(parts, strict=True)
    return parts


__all__ = ["S2Model", "synthetic_s2_partitionings", "read_s2_partitioning"]
