"""A model's preprocessing as data, and the two prediction protocols.

``ViewConfig`` is to a GeoModel what timm's ``pretrained_cfg`` is to a timm model: the resize,
crop, normalisation and test-time crops, as a frozen (hashable, picklable, comparable) value. A
model class declares it (``GeoModel.view_config``, or ``GeoModel.view_config_for(**options)``
when it depends on the options), so a driver can learn the input size and preprocess images in
worker processes without building the model or loading weights::

    cfg = geoxai.plugins.model_view_config("s2", input_size=320)
    cfg.view(image)             # uint8 [3, S, S]: the single view that is explained
    cfg.test_time_views(image)  # uint8 [n, 3, S, S]: the views ``predict`` averages

The protocols (``VIEWS``): ``"single"`` predicts from the one explained view (what an explainer
explains and what ``report`` scores by default); ``"test-time"`` from the test-time crops
(``test_time_views``, e.g. the releases' five crops), what ``evaluate`` uses by default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported when a view is applied, so `geoxai --help` stays fast
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the usual ImageNet evaluation ratio: centre crop 224 of a 256 short side
IMAGENET_CROP_PCT = 0.875

SINGLE = "single"
TEST_TIME = "test-time"
VIEWS = (SINGLE, TEST_TIME)
INTERPOLATIONS = ("bilinear", "bicubic")
TEST_TIME_CROPS = ("center", "five")


def check_views(views: str, where: str = "views") -> str:
    """``views`` if it names a protocol, else a one-line ValueError naming ``where``."""
    if views not in VIEWS:
        raise ValueError(f"{where} must be one of {', '.join(VIEWS)}, got {views!r}")
    return views


@dataclass(frozen=True)
class ViewConfig:
    """How a model sees an RGB uint8 photo [H, W, 3].

    Single view: resize the short side to ``resize_size`` (``interpolation``), centre crop
    ``input_size``. Test-time views: resize the short side to each of ``test_time_resizes`` in
    turn (default: ``resize_size``), then ``test_time_crops`` = ``"center"`` (the single view) or
    ``"five"`` (torchvision FiveCrop order: top-left, top-right, bottom-left, bottom-right,
    centre). ``mean``/``std`` normalise the pixels scaled to 0..1.
    """

    input_size: int = 224
    resize_size: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    test_time_resizes: tuple[int, ...] = ()
    test_time_crops: str = "center"

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the field types once, here
        set_(self, "input_size", int(self.input_size))
        set_(self, "resize_size", int(self.resize_size))
        set_(self, "mean", tuple(float(v) for v in self.mean))
        set_(self, "std", tuple(float(v) for v in self.std))
        set_(self, "test_time_resizes", tuple(int(s) for s in self.test_time_resizes))
        if self.input_size < 1 or self.resize_size < 1 or any(s < 1 for s in self.test_time_resizes):
            raise ValueError(f"ViewConfig sizes must be positive, got input_size={self.input_size}, "
                             f"resize_size={self.resize_size}, test_time_resizes={self.test_time_resizes}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"ViewConfig needs 3 means and 3 positive stds, got {self.mean} / {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"ViewConfig.interpolation must be one of {', '.join(INTERPOLATIONS)}, "
                             f"got {self.interpolation!r}")
        if self.test_time_crops not in TEST_TIME_CROPS:
            raise ValueError(f"ViewConfig.test_time_crops must be one of {', '.join(TEST_TIME_CROPS)}, "
                             f"got {self.test_time_crops!r}")

    @classmethod
    def for_crop(cls, input_size: int, crop_pct: float = IMAGENET_CROP_PCT, **fields: Any) -> ViewConfig:
        """A view whose centre crop ``input_size`` is ``crop_pct`` of the resized short side."""
        return cls(input_size=int(input_size), resize_size=round(int(input_size) / crop_pct), **fields)

    def replace(self, **fields: Any) -> ViewConfig:
        return dataclasses.replace(self, **fields)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def num_test_time_views(self) -> int:
        return 5 if self.test_time_crops == "five" else 1

    # ---- preprocessing -------------------------------------------------------------------
    def view(self, image: np.ndarray) -> torch.Tensor:
        """The single (explained) view: uint8 [3, input_size, input_size]."""
        from .io.images import center_crop

        return to_chw(center_crop(self._resize(image, self.resize_size), self.input_size))

    __call__ = view  # a ViewConfig is the picklable view function a decoding worker runs

    def test_time_views(self, image: np.ndarray) -> torch.Tensor:
        """The test-time views: uint8 [n, 3, input_size, input_size]."""
        import torch

        from .io.images import center_crop

        resizes = self.test_time_resizes or (self.resize_size,)
        for size in resizes:
            image = self._resize(image, size)
        s = self.input_size
        if self.test_time_crops == "center":
            return to_chw(center_crop(image, s))[None]
        h, w = image.shape[:2]
        if h < s or w < s:  # too small for the corners: pad like the centre crop does
            image = center_crop(image, max(s, h, w))[:max(s, h), :max(s, w)]
            h, w = image.shape[:2]
        crops = [image[:s, :s], image[:s, w - s:], image[h - s:, :s], image[h - s:, w - s:], center_crop(image, s)]
        return torch.stack([to_chw(c) for c in crops])

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, H, W] -> float (pixels / 255 - mean) / std."""
        import torch

        x = pixels.float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def _resize(self, image: np.ndarray, size: int) -> np.ndarray:
        from .io.images import resize_short_side

        if self.interpolation == "bilinear":
            return resize_short_side(image, size)
        from PIL import Image

        h, w = image.shape[:2]
        scale = size / min(h, w)
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        return np.array(Image.fromarray(image).resize(new, Image.Resampling.BICUBIC))


def view_differences(used: Any, declared: Any) -> str:
    """'input_size: built 96, declared 224; ...' for the fields of two ViewConfigs that differ."""
    if not (dataclasses.is_dataclass(used) and dataclasses.is_dataclass(declared)):
        return f"built {used!r}, declared {declared!r}"
    return "; ".join(f"{f.name}: built {getattr(used, f.name)}, declared {getattr(declared, f.name)}"
                     for f in dataclasses.fields(used) if getattr(used, f.name) != getattr(declared, f.name))


def to_chw(image: np.ndarray) -> torch.Tensor:
    """[H, W, 3] uint8 array -> contiguous uint8 tensor [3, H, W]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()


__all__ = ["IMAGENET_CROP_PCT", "IMAGENET_MEAN", "IMAGENET_STD", "SINGLE", "TEST_TIME", "VIEWS", "ViewConfig",
           "check_views", "to_chw", "view_differences"]
