"""SemP (Theiner et al., WACV 2022): a multi-partition classifier over semantic places.

One CNN (ResNet-50 in the paper, EfficientNet-B4 in the public release) with one linear head per
SemP partitioning (coarse -> fine). By default the prediction is the most probable cell of the
finest partitioning (the paper's ``f``, its best variant); ``hierarchical=True`` gives ``f*``.
Each cell is a real place, so predictions come with a label such as
"Eixample, Barcelona, Catalonia, Spain" besides the cell's mean training coordinate.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..io.checkpoint import load_checkpoint
from ..options import PositiveInt
from ..partitions.semp import SemPHierarchy
from ..partitions.semp_files import HIERARCHY, load_semp, read_hierarchy, read_public_partitionings
from ..types import Partitioning
from ..views import ViewConfig
from .multipartition import MultiPartitionGeoModel
from .release import DEFAULT_IMAGE_SIZE, Release, is_release, open_release, release_image_size, release_view

RELEASE_WEIGHTS = "semp-wacv22-efficientnet-b4"


class SemPModel(MultiPartitionGeoModel):
    """SemP geolocator.

    Options:
        pretrained: load the public release (weight file ``semp-wacv22-efficientnet-b4``, downloaded into the weights
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
        input_size: PositiveInt | None = None,
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
        state = None
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.exists():
                raise FileNotFoundError(f"{path}: SemP weights do not exist")
            if path.suffix in (".yaml", ".yml"):
                path = path.parent
            if is_release(path):
                with open_release(path) as release:
                    state, checkpoint = load_checkpoint(release.checkpoint), path
                    backbone = backbone or release.arch
                    input_size = input_size or release.image_size
                    if parts is None:
                        parts = _release_partitionings(release)
                        with contextlib.suppress(FileNotFoundError):
                            hierarchy = read_hierarchy(release.find(HIERARCHY))
            else:
                state, checkpoint = load_checkpoint(path), path
        if parts is None:
            raise ValueError("the semp model needs its partitionings: pass partitions=DIR "
                             "(from `geoxai partition build --kind semp`) or the release with weights=PATH")
        super().__init__(
            parts, backbone=backbone or "resnet50", hierarchical=hierarchical,
            view_config=release_view(int(input_size or DEFAULT_IMAGE_SIZE)), crop_aggregation=crop_aggregation,
        )
        self.hierarchy = hierarchy
        if hierarchy is not None:
            _label_from_hierarchy(self.partitionings, hierarchy)
        if state is not None:
            self.from_state_dict(state, strict=strict, source=str(checkpoint))
        self.random_weights = state is None  # pretrained=False without weights=
        self.eval()

    @classmethod
    def random_weights_for(cls, pretrained: bool = True, weights: str | os.PathLike | None = None,
                           **_: object) -> bool:
        return weights is None and not pretrained

    @classmethod
    def view_config_for(cls, pretrained: bool = True, weights: str | os.PathLike | None = None,
                        input_size: int | None = None, **_: object) -> ViewConfig:
        """The view of ``SemPModel(**options)`` (the WACV'22 evaluation view at the crop size of
        ``input_size``, else of the release's hparams.yaml), without reading any checkpoint."""
        if input_size is None:
            if weights is None and pretrained:
                from ..weights import resolve

                weights = resolve(RELEASE_WEIGHTS)
            if weights is not None and Path(weights).expanduser().exists():
                path = Path(weights).expanduser()
                path = path.parent if path.suffix in (".yaml", ".yml") else path
                if is_release(path):
                    input_size = release_image_size(path)
        return release_view(int(input_size or DEFAULT_IMAGE_SIZE))

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


def _release_partitionings(release: Release) -> list[Partitioning]:
    """The release's partitionings (coarse -> fine as ``hparams.yaml`` lists them), linked by h_dict."""
    spec = release.partitioning
    if spec.get("ptype", "semp") != "semp":
        raise ValueError(f"{release.source}: partitioning type {spec.get('ptype')!r} is not semp (use model s2)")
    files = release.partition_files()
    h_dict = None
    if len(files) > 1:
        if not spec.get("h_dict"):
            raise ValueError(f"{release.source}: hparams.yaml names no h_dict linking the partitionings")
        h_dict = json.loads(release.find(str(spec["h_dict"])).read_text(encoding="utf-8"))
    kw = spec.get("base_part_kwargs") or {}
    columns = {"index_col": kw.get("index_col", "class_index"),
               "col_class_label": kw.get("col_class_label", "class_label"),
               # the authors' config spells it 'col_latitute'
               "col_latitude": kw.get("col_latitute", kw.get("col_latitude", "latitude_mean")),
               "col_longitude": kw.get("col_longitude", "longitude_mean")}
    names = release.shortnames()
    return read_public_partitionings(files, h_dict, names=names if len(names) == len(files) else None, **columns)


def _label_from_hierarchy(parts: Sequence[Partitioning], hierarchy: SemPHierarchy) -> None:
    """Give cells without a readable label (e.g. bare OSM ids) the path label from the hierarchy."""
    for part in parts:
        labels = list(part.labels) if part.labels else list(part.keys)
        for i, key in enumerate(part.keys):
            if labels[i] == key and key in hierarchy:
                labels[i] = hierarchy.label(key)
        part.labels = labels
