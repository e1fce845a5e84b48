"""Tiny random-weight vision transformers of the three recognised families, wrapped as GeoModels
over the tiny partitionings (8 cities), 32x32 inputs, 8x8 patches (a 4x4 token grid)."""
from __future__ import annotations

import timm
import torch
import torchvision
from torch import nn

from geoxai.interfaces import GeoModel
from geoxai.testing import tiny_partitionings
from geoxai.views import ViewConfig

FAMILIES = ("timm", "timm-registers", "clip", "siglip", "torchvision")


def backbone(family: str, depth: int = 2, seed: int = 0) -> tuple[nn.Module, int]:
    torch.manual_seed(seed)
    if family.startswith("timm"):
        net = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=depth,
                                embed_dim=32, num_heads=2, num_classes=8,
                                reg_tokens=2 if family == "timm-registers" else 0,
                                dynamic_img_size=family == "timm-registers")
        return net, 0
    if family in ("clip", "siglip"):
        from transformers import CLIPVisionConfig, CLIPVisionModel, SiglipVisionConfig, SiglipVisionModel

        fields = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=depth, num_attention_heads=2,
                      image_size=32, patch_size=8)
        net = CLIPVisionModel(CLIPVisionConfig(**fields)) if family == "clip" else \
            SiglipVisionModel(SiglipVisionConfig(**fields))
        return net, 32
    if family == "torchvision":
        net = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=depth, num_heads=2,
                                                   hidden_dim=32, mlp_dim=64, num_classes=8)
        nn.init.normal_(net.heads.head.weight, std=0.5)  # torchvision zero-initialises its head
        return net, 0
    raise ValueError(family)


class ViTGeo(GeoModel):
    view_config = ViewConfig(input_size=32, resize_size=36)

    def __init__(self, family: str = "timm", depth: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.name = f"vit-{family}"
        self.family = family
        self.partitionings = tiny_partitionings()
        self.net, features = backbone(family, depth, seed)
        self.head = nn.Linear(features, len(self.finest)) if features else None
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return self.net(x)
        return self.head(self.net(pixel_values=x).pooler_output)


def attention_state(model):
    """Everything an explainer may switch on a ViT: fused flags, HF attention implementations,
    instance-level forwards and hooks."""
    fused = [m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")]
    configs = [m.config._attn_implementation for m in model.modules() if hasattr(m, "config")
               and hasattr(m.config, "_attn_implementation")]
    forwards = [m for m in model.modules() if "forward" in m.__dict__]
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return fused, configs, forwards, hooks
