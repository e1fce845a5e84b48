"""The three interfaces every model, explainer and segmenter implements.

A plugin needs nothing from geoxai but this module, ``geoxai.types``, ``geoxai.targets`` and
the ``hookimpl`` marker.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from .geodesy import great_circle_km
from .masks import ConceptMasks
from .types import Attribution, GeoPrediction, ImageBatch, Partitioning
from .views import IMAGENET_MEAN as IMAGENET_MEAN  # re-exported: segmenters and plugins import them from here
from .views import IMAGENET_STD as IMAGENET_STD
from .views import SINGLE, ViewConfig, to_chw

if TYPE_CHECKING:
    from .targets import Target

#: the fields of ``view_config`` a subclass may not declare as class attributes (the legacy style)
_VIEW_FIELDS = ("input_size", "resize_size", "mean", "std")


class GeoModel(nn.Module, abc.ABC):
    """A photo-geolocation classifier over cells of the earth.

    Subclasses set ``partitionings`` (ordered coarse -> fine; the last one is the *finest*, over
    which ``forward`` scores) and implement ``forward``. Preprocessing is data: ``view_config``
    (a ``geoxai.views.ViewConfig``: resize the short side, centre crop, mean/std, test-time
    crops), declared on the class, or computed from the options by the classmethod
    ``view_config_for(**options)`` when it depends on them, so that it can be read without
    building the model. The registry checks at build that the two agree (one truth for the view:
    what ``geoxai.plugins.model_view_config`` reports is what the model uses).
    """

    name: str = "geomodel"
    view_config: ViewConfig = ViewConfig()
    #: friendly layer names for CAM explainers -> dotted module paths (``model.get_submodule``)
    cam_layers: dict[str, str] = {}
    default_cam_layer: str | None = None

    partitionings: list[Partitioning]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        legacy = sorted(f for f in _VIEW_FIELDS if f in cls.__dict__)
        if legacy:  # the pre-ViewConfig style (class attributes input_size = 224, ...) is gone
            raise TypeError(f"{cls.__name__}: declare the view as data, view_config = ViewConfig(...), not as "
                            f"class attribute(s) {', '.join(legacy)} (geoxai.views.ViewConfig)")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _VIEW_FIELDS[:2]:  # the legacy size properties are gone: setting one would change nothing
            raise AttributeError(f"{type(self).__name__}.{name}: the view is data; declare view_config (or "
                                 "view_config_for(**options) when it depends on the options)")
        super().__setattr__(name, value)

    @classmethod
    def view_config_for(cls, **options: Any) -> ViewConfig:
        """The view a model built with ``options`` will have, without building it (no weights
        are read). Default: the class's ``view_config``; models whose view depends on their
        options (e.g. ``input_size``) override this."""
        return cls.view_config

    # ---- preprocessing -------------------------------------------------------------------
    def view(self, image: np.ndarray) -> torch.Tensor:
        """The single view of an RGB uint8 image [H, W, 3] that is explained: uint8 [3, S, S]."""
        return self.view_config.view(image)

    def test_time_views(self, image: np.ndarray) -> torch.Tensor:
        """The views whose probabilities ``predict(views="test-time")`` aggregates: uint8 [n, 3, S, S]."""
        cfg = self.view_config
        if type(self).view is not GeoModel.view and cfg.test_time_crops == "center" and not cfg.test_time_resizes:
            return self.view(image)[None]  # a model with a view of its own and no test-time crops
        return cfg.test_time_views(image)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, H, W] -> the float input ``forward`` expects."""
        return self.view_config.normalize(pixels)

    def prepare(self, images: Sequence[np.ndarray], ids: Sequence[str] | None = None) -> ImageBatch:
        return ImageBatch.stack([self.view(im) for im in images], ids)

    def as_input(self, images: ImageBatch | torch.Tensor) -> torch.Tensor:
        """Accept an ImageBatch or a ready float input; return the float input on the model's device."""
        device = self.device
        if isinstance(images, ImageBatch):
            return self.normalize(images.pixels.to(device))
        if images.dtype == torch.uint8:
            return self.normalize(images.to(device))
        return images.to(device)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # ---- the model -----------------------------------------------------------------------
    @property
    def finest(self) -> Partitioning:
        return self.partitionings[-1]

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable scores [B, C] over the finest cells; ``softmax`` of them is the model's
        distribution over those cells."""

    def predict(self, images: ImageBatch | torch.Tensor | Sequence[np.ndarray], top_k: int = 5,
                ids: Sequence[str] | None = None, views: str = SINGLE) -> list[GeoPrediction]:
        """A thin alias of ``geoxai.prediction.predict(self, ...)`` (kept for the docs' and plugins'
        callers): the prediction of the explained view, or of the test-time crops with
        ``views="test-time"``."""
        from .prediction import predict

        return predict(self, images, top_k=top_k, ids=ids, views=views)

    # ---- layers and regions --------------------------------------------------------------
    def layer(self, name: str | None = None) -> nn.Module:
        """A module by friendly name (``cam_layers``) or dotted path; None gives the default CAM layer."""
        name = name or self.default_cam_layer
        if name is None:
            raise ValueError(f"model {self.name!r} declares no default CAM layer; pass a layer name")
        path = self.cam_layers.get(name, name)
        try:
            return self.get_submodule(path)
        except AttributeError:
            known = sorted(self.cam_layers) or [n for n, _ in self.named_modules() if n][:20]
            raise ValueError(f"model {self.name!r} has no layer {name!r}; known: {', '.join(known)}") from None

    def cells_within(self, lat: float, lon: float, radius_km: float) -> torch.Tensor:
        """Indices of the finest cells whose location is within ``radius_km`` of (lat, lon)."""
        d = great_circle_km(lat, lon, self.finest.lat, self.finest.lon)
        return torch.as_tensor(np.flatnonzero(np.asarray(d) <= radius_km), dtype=torch.long)

    def region_cells(self, node: str) -> torch.Tensor:
        """Indices of the finest cells below a hierarchy node, named by cell key or label.

        Looks through every partitioning (coarse to fine) for a cell whose key or label equals
        ``node`` (case-insensitive) and follows ``parent`` links down to the finest partitioning.
        """
        wanted = node.casefold()
        parts = self.partitionings
        for level, part in enumerate(parts):
            hits = [i for i, k in enumerate(part.keys) if k.casefold() == wanted]
            if not hits and part.labels:
                hits = [i for i, lab in enumerate(part.labels) if lab.casefold() == wanted]
            if not hits:
                continue
            members = np.zeros(len(part), dtype=bool)
            members[hits] = True
            for finer in parts[level + 1:]:
                if finer.parent is None:
                    raise ValueError(f"model {self.name!r}: partitioning {finer.name!r} has no parent links")
                members = members[finer.parent] & (finer.parent >= 0)
            return torch.as_tensor(np.flatnonzero(members), dtype=torch.long)
        raise ValueError(f"model {self.name!r} has no region {node!r} in its partitionings")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partitionings": {p.name: len(p) for p in self.partitionings},
            "input_size": self.view_config.input_size,
            "view_config": self.view_config.to_dict(),
            "cam_layers": dict(self.cam_layers),
            "default_cam_layer": self.default_cam_layer,
        }


class Explainer(abc.ABC):
    """Explains a batch: one map per image at the model's input resolution.

    Options are keyword arguments of the constructor (``load_explainer(name, **opts)``) and may be
    overridden per call.
    """

    name: str = "explainer"
    #: True: ``explain`` takes ``segmentation=`` (LongTensor [B, H, W] of concept indices at the
    #: view's size) and the pipeline passes the segmenter's labels (e.g. concept Shapley values)
    needs_segmentation: ClassVar[bool] = False
    #: True: the method only calls the model (no gradients, no layers), so it also explains a
    #: black-box ``geoxai.blackbox.Geolocator``
    model_agnostic: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def explain(
        self,
        model: GeoModel,
        images: ImageBatch | torch.Tensor,
        target: Target | str | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Return float32 [B, H, W] maps (on CPU) for ``images`` and ``target`` (default: the
        predicted cell)."""

    def explain_with_info(
        self,
        model: GeoModel,
        images: ImageBatch | torch.Tensor,
        target: Target | str | None = None,
        **options: Any,
    ) -> Attribution:
        """The maps with what the call learnt on the way: per-image facts (``info``, e.g.
        completeness) and the clean logits when the method computed them. Nothing is stored on
        the explainer, so one instance can serve several threads. The default wraps ``explain``."""
        return Attribution(self.explain(model, images, target, **options))


class Segmenter(abc.ABC):
    """Assigns a concept to every pixel of an image batch.

    Device policy (the same as a GeoModel's): a segmenter is built on the CPU, ``device`` says where
    ``segment`` runs, and ``to(device)`` moves it there and returns it, so one ``--device`` reaches
    every stage. ``segment`` accepts images on any device and returns labels on the CPU.
    """

    name: str = "segmenter"
    concepts: list[str]
    #: True when ``segment_masks`` is the segmenter's own answer (masks that may overlap, or leave
    #: pixels without a concept) and ``segment`` only flattens it; callers that score concepts
    #: should then use ``segment_masks``
    overlapping_masks: bool = False
    #: the concepts that are geolocation cues (text, signs, bollards, ...): quality's cue recall
    #: measures the attribution mass on their union (``geoxai.quality.cue_recall``)
    cue_concepts: Sequence[str] = ()
    _device: torch.device = torch.device("cpu")

    @abc.abstractmethod
    def segment(self, images: ImageBatch | torch.Tensor) -> torch.Tensor:
        """LongTensor [B, H, W] of indices into ``concepts``, at the images' resolution, on the CPU.
        ``images`` are uint8 RGB [B, 3, H, W] (an ImageBatch or its pixels). Negative values mark
        pixels without a concept."""

    def segment_masks(self, images: ImageBatch | torch.Tensor) -> ConceptMasks:
        """One boolean mask per concept (``geoxai.masks.ConceptMasks``, masks [B, K, H, W] on the
        CPU), possibly overlapping, with the regions the segmenter read where it keeps any. The
        default is the one-hot of ``segment``'s labels, so every caller can use this method."""
        return ConceptMasks.from_labels(self.segment(images), self.concepts)

    @property
    def device(self) -> torch.device:
        """The device ``segment`` computes on (CPU until ``to`` moves it)."""
        return self._device

    def to(self, device: str | torch.device) -> Segmenter:
        """Move every ``nn.Module`` and tensor attribute to ``device``; returns ``self`` (like
        ``nn.Module.to``). Override it when the segmenter keeps its state elsewhere."""
        device = torch.device(device)
        for key, value in list(vars(self).items()):
            if isinstance(value, nn.Module):
                value.to(device)
            elif isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))
        self._device = device
        return self

    def concept_index(self, name: str) -> int:
        try:
            return self.concepts.index(name)
        except ValueError:
            raise KeyError(f"segmenter {self.name!r} has no concept {name!r}") from None


class MaskSegmenter(Segmenter):
    """Base of segmenters whose answer is a set of possibly overlapping masks (OCR text regions,
    open-vocabulary prompts): implement ``segment_masks``; ``segment`` is its label map (the last
    covering concept per pixel, -1 where none). Implementations keep no per-call state, so one
    instance can serve several threads."""

    overlapping_masks = True

    @abc.abstractmethod
    def segment_masks(self, images: ImageBatch | torch.Tensor) -> ConceptMasks:
        """Masks [B, K, H, W] over ``concepts`` at the images' resolution (see ``Segmenter``)."""

    def segment(self, images: ImageBatch | torch.Tensor) -> torch.Tensor:
        return self.segment_masks(images).labels()


_to_chw = to_chw  # the old private name, kept for plugins written against it
