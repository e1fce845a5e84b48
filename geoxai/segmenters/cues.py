"""``cues``: open-vocabulary geolocation cues (bollards, road markings, utility poles, ...) with CLIPSeg.

CLIPSeg (Lüddecke & Ecker, CVPR 2022; ``CIDAS/clipseg-rd64-refined`` through transformers) scores
every pixel against a text prompt. Each prompt is one concept; its mask is the pixels whose
sigmoid score passes ``threshold``. Masks of different prompts may overlap (a road sign on a
utility pole), so ci scores each on its own mask.

The image is encoded once; only the light decoder runs once per prompt, and the prompts' text
embeddings are computed once when the segmenter is built (no tokenizer at segment time).
Weights are read as safetensors only (loading them runs no code).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..interfaces import IMAGENET_MEAN, IMAGENET_STD, MaskSegmenter
from ..masks import ConceptMasks
from ..types import ImageBatch
from .base import as_pixels

#: the release on the Hugging Face Hub; the commit used is recorded in ``weights_provenance``
WEIGHTS = "hf://CIDAS/clipseg-rd64-refined"
#: what a checkpoint folder may hold: configs, tokenizer files and safetensors, never pickles
ALLOWED_FILES = ["*.json", "*.txt", "*.safetensors"]
#: concept name -> the prompt CLIPSeg reads: cues people who geolocate photos use
DEFAULT_CUES = {
    "bollard": "a roadside bollard",
    "road centre line": "the centre line marking of a road",
    "road edge line": "the edge line marking of a road",
    "utility pole": "a utility pole",
    "licence plate": "a car licence plate",
    "street sign": "a street name sign",
    "road sign": "a traffic road sign",
    "traffic light": "a traffic light",
    "kerb": "a kerb stone at the road side",
    "guardrail": "a road guardrail",
    "roof": "a house roof",
    "palm tree": "a palm tree",
    "conifer": "a coniferous tree",
    "deciduous tree": "a deciduous tree",
    "grass": "grass vegetation",
    "soil": "bare soil or dirt",
}


def parse_prompts(prompts: str | Sequence[str] | None = None, prompts_file: str | os.PathLike | None = None
                  ) -> dict[str, str]:
    """Concept name -> prompt: ``prompts`` ("a bollard, a tram line" or a list; each prompt is its
    own name) and/or ``prompts_file`` (one prompt per line, ``name: prompt`` or just the prompt,
    ``#`` comments); neither: ``DEFAULT_CUES``."""
    out: dict[str, str] = {}
    if prompts_file is not None:
        path = Path(prompts_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cues prompts_file cannot be read ({exc.__class__.__name__})") from None
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line:
                name, sep, prompt = line.partition(":")
                out[name.strip()] = prompt.strip() if sep and prompt.strip() else name.strip()
    if prompts is not None:
        items = prompts.split(",") if isinstance(prompts, str) else list(prompts)
        for item in items:
            if str(item).strip():
                out[str(item).strip()] = str(item).strip()
    if prompts_file is None and prompts is None:
        return dict(DEFAULT_CUES)
    if not out:
        raise ValueError("cues: no prompts given (prompts= is a comma list, prompts_file= one prompt per line)")
    return out


def load_checkpoint(weights: str | os.PathLike) -> tuple[Any, Any, dict[str, Any], dict[str, str] | None]:
    """(CLIPSeg model, tokenizer, preprocessor config, provenance) from a transformers checkpoint
    folder or ``hf://ORG/REPO[@REVISION]``; safetensors only."""
    from transformers import AutoTokenizer, CLIPSegForImageSegmentation

    from .. import hub

    provenance = None
    if hub.is_hub(weights):
        found = hub.snapshot(str(weights), allow_patterns=ALLOWED_FILES)
        folder, provenance = Path(found.path), found.record()
    else:
        folder = Path(weights).expanduser()
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: cues weights= must be a CLIPSeg checkpoint folder (config.json, "
                         f"model.safetensors, tokenizer files) or hf://ORG/REPO[@REVISION]")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{folder}: no .safetensors weights (cues reads no pickled pytorch_model.bin)")
    model = CLIPSegForImageSegmentation.from_pretrained(str(folder), use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    preprocessor = folder / "preprocessor_config.json"
    config = json.loads(preprocessor.read_text()) if preprocessor.is_file() else {}
    return model, tokenizer, config, provenance


class CuesSegmenter(MaskSegmenter):
    """One concept per prompt, masked where CLIPSeg's sigmoid score reaches ``threshold``.

    Options: ``prompts`` (comma list), ``prompts_file`` (one per line, ``name: prompt``),
    ``threshold`` (sigmoid probability, default 0.4), ``size`` (square side CLIPSeg sees; its
    release uses 352), ``batch_size`` (images per forward), ``weights`` (``hf://`` spec or a local
    checkpoint folder), ``device``. ``model`` and ``tokenizer`` (Python only) take a ready
    ``CLIPSegForImageSegmentation`` and its tokenizer instead of ``weights``.
    """

    name = "cues"

    def __init__(self, prompts: str | None = None, prompts_file: str | None = None, threshold: float = 0.4,
                 size: int = 352, batch_size: int = 4, weights: str | None = WEIGHTS, device: str | None = None,
                 model: Any = None, tokenizer: Any = None) -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"cues: threshold is a sigmoid probability in (0, 1), got {threshold!r}")
        if int(size) < 16 or int(batch_size) < 1:
            raise ValueError(f"cues: size >= 16 and batch_size >= 1 are needed, got {size!r}, {batch_size!r}")
        cues = parse_prompts(prompts, prompts_file)
        preprocess: dict[str, Any] = {}
        self.weights_provenance = None
        if model is None:
            if weights is None:
                raise ValueError("cues: give weights= (hf://... or a checkpoint folder) or a model")
            model, tokenizer, preprocess, self.weights_provenance = load_checkpoint(weights)
        if not isinstance(model, torch.nn.Module) or tokenizer is None or isinstance(tokenizer, str):
            raise ValueError("cues: model= takes a CLIPSegForImageSegmentation and tokenizer= its tokenizer "
                             "(Python only; on the command line use weights=)")
        self.concepts = list(cues)
        self.cue_concepts = list(cues)
        self.prompts = list(cues.values())
        self.threshold, self.size, self.batch_size = float(threshold), int(size), int(batch_size)
        self.network: Any = model.eval()  # a CLIPSegForImageSegmentation (transformers types it loosely)
        self.mean = torch.tensor(preprocess.get("image_mean", IMAGENET_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(preprocess.get("image_std", IMAGENET_STD), dtype=torch.float32).view(1, 3, 1, 1)
        self.prompt_embeddings = self._embed(tokenizer, self.prompts)
        self.to(device if device is not None else "cpu")

    @torch.inference_mode()
    def _embed(self, tokenizer, prompts: list[str]) -> torch.Tensor:
        tokens = tokenizer(prompts, padding=True, return_tensors="pt")
        out = self.network.clip.get_text_features(tokens["input_ids"], attention_mask=tokens["attention_mask"])
        return getattr(out, "pooler_output", out)  # transformers 5 returns an output object, 4 a tensor

    @torch.inference_mode()
    def scores(self, pixels: torch.Tensor) -> torch.Tensor:
        """Sigmoid scores [B, P, size, size] of uint8 images [B, 3, H, W] for every prompt. Equals
        CLIPSeg's own forward on each (image, prompt) pair, with the image encoded once."""
        x = F.interpolate(pixels.to(self.device, self.mean.dtype), size=(self.size, self.size), mode="bilinear",
                          align_corners=False, antialias=True)
        x = (x / 255.0 - self.mean) / self.std
        vision = self.network.clip.vision_model(pixel_values=x, output_hidden_states=True,
                                                interpolate_pos_encoding=True)
        b, p = x.shape[0], len(self.prompts)
        activations = [vision.hidden_states[i + 1].repeat_interleave(p, dim=0) for i in self.network.extract_layers]
        conditions = self.prompt_embeddings.repeat(b, 1)
        logits = self.network.decoder(activations, conditions).logits
        return torch.sigmoid(logits.reshape(b, p, *logits.shape[-2:]))

    def segment_masks(self, images: ImageBatch | torch.Tensor) -> ConceptMasks:
        pixels = as_pixels(images)
        h, w = int(pixels.shape[-2]), int(pixels.shape[-1])
        out = []
        for start in range(0, len(pixels), self.batch_size):
            probs = self.scores(pixels[start:start + self.batch_size])
            probs = F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)
            out.append((probs >= self.threshold).cpu())
        masks = torch.cat(out) if out else torch.zeros(0, len(self.concepts), h, w, dtype=torch.bool)
        return ConceptMasks(masks, self.concepts)
