"""GeoCLIP (Vivanco Cepeda et al., NeurIPS 2023) as a geoxai GeoModel.

GeoCLIP embeds a photo (CLIP ViT-L/14 vision tower -> 768-d projection -> MLP -> 512) and GPS
coordinates (random-Fourier-feature location encoder -> 512) into one space; it predicts the
gallery coordinate most similar to the photo. geoxai sees this as a classifier whose cells are the
gallery points: ``forward`` returns ``logit_scale * cos(image, gallery point)`` for every point, and
its softmax is the distribution geoclip's own ``predict`` ranks. Cell, ``within:`` and
``region:<country>`` targets therefore work unchanged.

Pieces and where they come from:

* CLIP vision tower: Hugging Face ``openai/clip-vit-large-patch14`` (downloaded by transformers on
  first use, or a local folder); ``backbone="tiny"`` or a config dict builds a random-weight one.
* image MLP, location encoder, logit scale and the 100K GPS gallery: shipped in the geoclip wheel.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geoxai.interfaces import GeoModel
from geoxai.io.checkpoint import load_checkpoint
from geoxai.views import ViewConfig
from geoxai.vit import L2Normalize

from .gallery import gallery_partitionings, read_gallery

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_BACKBONE = "openai/clip-vit-large-patch14"
#: a random CLIP vision tower small enough for CPU tests; projection 768 keeps geoclip's MLP usable
TINY_BACKBONE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                     image_size=32, patch_size=8, projection_dim=768)


class ImageTower(nn.Module):
    """CLIP vision model + visual projection + GeoCLIP's MLP: photo -> 512-d embedding."""

    def __init__(self, clip: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.clip = clip  # CLIPModel or CLIPVisionModelWithProjection: both have these two parts
        self.mlp = mlp
        self.unit = L2Normalize(dim=1)  # a module: conservative LRP treats the norm as a constant

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pooled = self.clip.vision_model(pixel_values=pixels).pooler_output
        return self.mlp(self.clip.visual_projection(pooled))


class GeoCLIPModel(GeoModel):
    """GeoCLIP over its GPS gallery.

    Options: ``backbone`` (Hugging Face id or folder of a CLIP model, ``"tiny"``, or a dict of
    ``CLIPVisionConfig`` fields for a random tower), ``heads`` (``"geoclip"``: the MLP, location
    encoder and logit scale shipped with geoclip; ``"random"``), ``gallery`` (CSV with LAT/LON
    columns; default geoclip's 100K points), ``gallery_size`` (keep the first N points),
    ``countries`` (add the country partitioning), ``seed`` (random parts), ``local_files_only``.
    """

    name = "geoclip"
    view_config = ViewConfig(input_size=224, resize_size=224, mean=CLIP_MEAN, std=CLIP_STD, interpolation="bicubic")

    def __init__(self, backbone: str | dict | Any = DEFAULT_BACKBONE, heads: str = "geoclip",
                 gallery: str | os.PathLike | None = None, gallery_size: int | None = None,
                 countries: bool = True, seed: int = 0, local_files_only: bool = False) -> None:
        super().__init__()
        if heads not in ("geoclip", "random"):
            raise ValueError(f"heads must be 'geoclip' or 'random', got {heads!r}")
        from geoclip import LocationEncoder

        rng_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            clip = _vision_tower(backbone, local_files_only)
            mlp = nn.Sequential(nn.Linear(768, 768), nn.ReLU(), nn.Linear(768, 512))
            location_encoder = LocationEncoder(from_pretrained=heads == "geoclip")
            logit_scale = torch.tensor(float(np.log(1 / 0.07)))
        finally:
            torch.random.set_rng_state(rng_state)
        if heads == "geoclip":
            mlp.load_state_dict(_shipped_weights("image_encoder_mlp_weights.pth"))
            logit_scale = _shipped_weights("logit_scale_weights.pth")
        self._assemble(clip, mlp, location_encoder, logit_scale, read_gallery(gallery, gallery_size), countries)
        # a random tower or random heads: geoxai says so on the CLI, the figures and the reports
        self.random_weights = isinstance(backbone, dict) or backbone == "tiny" or heads == "random"

    @classmethod
    def from_geoclip(cls, geoclip_model: nn.Module, countries: bool = True) -> GeoCLIPModel:
        """Wrap a ready ``geoclip.GeoCLIP`` (e.g. from ``GeoCLIP.from_pretrained``), sharing its modules."""
        self = cls.__new__(cls)
        GeoModel.__init__(self)
        encoder = geoclip_model.image_encoder
        self._assemble(encoder.CLIP, encoder.mlp, geoclip_model.location_encoder,
                       geoclip_model.logit_scale.detach(), geoclip_model.gps_gallery.double().cpu().numpy(),
                       countries)
        return self

    def _assemble(self, clip, mlp, location_encoder, logit_scale, coords: np.ndarray, countries: bool) -> None:
        cfg = clip.config.vision_config if hasattr(clip.config, "vision_config") else clip.config
        self.view_config = clip_view(int(cfg.image_size))
        # CAM layers are the transformer blocks; geoxai's core taps each at its normalised input
        # and presents the patch tokens as a [B, C, h, w] grid (geoxai.vit.cam_tap)
        prefix = "image_encoder.clip.vision_model.encoder.layers"
        blocks = [f"{prefix}.{i}" for i in range(len(clip.vision_model.encoder.layers))]
        self.cam_layers = {f"block{i}": block for i, block in enumerate(blocks)}
        self.cam_layers["last"] = blocks[-1]
        self.default_cam_layer = "last"
        self.image_encoder = ImageTower(clip, mlp)
        self.location_encoder = location_encoder
        self.register_buffer("logit_scale", torch.as_tensor(logit_scale, dtype=torch.float32).reshape(()).clone())
        self.register_buffer("gallery_gps", torch.as_tensor(coords, dtype=torch.float32))
        self.register_buffer("gallery_features", self._encode_gallery(), persistent=False)
        self.partitionings = gallery_partitionings(coords, countries=countries)
        for p in self.parameters():  # explanations need input gradients, not weight gradients
            p.requires_grad_(False)
        self.eval()

    @torch.no_grad()
    def _encode_gallery(self, chunk: int = 8192) -> torch.Tensor:
        """Unit-length location embeddings of every gallery point, computed once."""
        self.location_encoder.eval()
        parts = [F.normalize(self.location_encoder(self.gallery_gps[i:i + chunk]), dim=1)
                 for i in range(0, len(self.gallery_gps), chunk)]
        return torch.cat(parts)

    @classmethod
    def view_config_for(cls, backbone: str | dict | Any = DEFAULT_BACKBONE, local_files_only: bool = False,
                        **_: Any) -> ViewConfig:
        """CLIP's evaluation view at the backbone's image size, from its config alone (a Hugging
        Face ``config.json``, no weights)."""
        return clip_view(int(_vision_config(backbone, local_files_only).image_size))

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_encoder.unit(self.image_encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit-scaled cosine similarity [B, N] of each photo to every gallery point."""
        return self.logit_scale.exp() * self.image_features(x) @ self.gallery_features.t()


def clip_view(image_size: int) -> ViewConfig:
    """CLIP's evaluation view: bicubic resize of the short side to the crop size, centre crop."""
    return ViewConfig(input_size=image_size, resize_size=image_size, mean=CLIP_MEAN, std=CLIP_STD,
                      interpolation="bicubic")


def _built_config(backbone):
    """The CLIPVisionConfig of a backbone option that describes it in place (a config, a dict of
    its fields, or ``"tiny"``); None for a hub id or folder, whose config.json must be read."""
    from transformers import CLIPVisionConfig

    if isinstance(backbone, CLIPVisionConfig):
        return backbone
    if isinstance(backbone, dict) or backbone == "tiny":
        return CLIPVisionConfig(**(TINY_BACKBONE if backbone == "tiny" else {"projection_dim": 768, **backbone}))
    return None


def _from_hub(read, backbone, local_files_only: bool, what: str):
    """``read.from_pretrained(backbone)``; a failure is one line naming the backbone."""
    try:
        return read.from_pretrained(str(backbone), local_files_only=local_files_only)
    except pickle.UnpicklingError:
        # torch.load(weights_only=True) met something other than tensors: it could run code
        raise OSError(f"CLIP backbone {backbone!r}{what}: refused: its pickled weights hold more than tensors "
                      f"(loading them could run code); use a safetensors checkpoint") from None
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OSError(f"CLIP backbone {backbone!r}{what} (Hugging Face hub or local folder): {first}") from None


def _vision_config(backbone, local_files_only: bool):
    """The CLIPVisionConfig of a backbone option (a hub id or folder is read from its config.json)."""
    from transformers import CLIPVisionConfig

    config = _built_config(backbone)
    if config is not None:
        return config
    if hasattr(backbone, "config"):  # a ready CLIP module
        cfg = backbone.config
        return cfg.vision_config if hasattr(cfg, "vision_config") else cfg
    return _from_hub(CLIPVisionConfig, backbone, local_files_only, ": no config could be read")


def _vision_tower(backbone, local_files_only: bool) -> nn.Module:
    from transformers import CLIPVisionModelWithProjection

    config = _built_config(backbone)
    if config is None:
        return _from_hub(CLIPVisionModelWithProjection, backbone, local_files_only, " could not be loaded")
    if config.projection_dim != 768:
        raise ValueError(f"GeoCLIP's image MLP needs a 768-d CLIP projection, backbone has {config.projection_dim}")
    return CLIPVisionModelWithProjection(config)


def _shipped_weights(filename: str):
    from geoclip.model.misc import file_dir

    return load_checkpoint(os.path.join(file_dir, "weights", filename))
