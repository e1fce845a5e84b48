"""A zero-shot CLIP geolocator (StreetCLIP-style) as a geoxai GeoModel.

The photo goes through a CLIP image tower; each country is a text prompt ("A street view photo in
{country}.") through the text tower, computed once. ``forward`` returns CLIP's logits
``logit_scale * cos(image, prompt)`` per country, whose softmax is CLIP's zero-shot distribution.
Several templates are averaged per country (CLIP's prompt ensembling). Cells are Natural Earth's
countries with their centroids; subregions and continents are coarser partitionings, so
``region:Europe`` or ``region:Western Europe`` targets work.

Checkpoints: ``geolocal/StreetCLIP`` (Haas et al. 2023; CC-BY-NC-4.0, non-commercial; the licence is
shown when it is loaded) or any CLIP checkpoint, as a Hub id, ``hf://ORG/REPO[@REVISION]`` (into
geoxai's cache, commit recorded) or a local folder; ``"tiny"`` builds a random tiny CLIP with a
word-level tokenizer for tests.
"""
from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from geoxai.interfaces import GeoModel
from geoxai.views import ViewConfig
from geoxai.vit import L2Normalize

from .countries import partitionings, read_countries

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TINY_IMAGE_SIZE = 32
DEFAULT_CHECKPOINT = "geolocal/StreetCLIP"
DEFAULT_PROMPT = "A street view photo in {country}."
LICENCES = {"geolocal/StreetCLIP": "CC-BY-NC-4.0 (non-commercial use only; see huggingface.co/geolocal/StreetCLIP)"}
HUB_FILES = ["*.json", "*.safetensors", "*.txt"]  # config, tokenizer, weights; never pickles


class StreetCLIPModel(GeoModel):
    """Options: ``checkpoint``, ``prompt`` (a template with ``{country}``, or a list averaged per
    country), ``countries`` (a CSV like the packaged one, e.g. a subset), ``seed`` (tiny only)."""

    name = "streetclip"
    view_config = ViewConfig(input_size=336, resize_size=336, mean=CLIP_MEAN, std=CLIP_STD, interpolation="bicubic")

    @classmethod
    def view_config_for(cls, checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT, **_: object) -> ViewConfig:
        """CLIP's view at the checkpoint's image size (read from its config.json only, no weights)."""
        size = clip_image_size(checkpoint)
        return cls.view_config.replace(input_size=size, resize_size=size)

    def __init__(self, checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT, prompt: str | Sequence[str] = DEFAULT_PROMPT,
                 countries: str | os.PathLike | None = None, seed: int = 0) -> None:
        super().__init__()
        templates = [prompt] if isinstance(prompt, str) else list(prompt)
        if not templates or any("{country}" not in t for t in templates):
            raise ValueError(f"prompt must contain '{{country}}' (e.g. {DEFAULT_PROMPT!r}), got {prompt!r}")
        self.templates = templates
        self.countries = read_countries(countries)
        self.partitionings = partitionings(self.countries)
        clip, tokenizer = load_clip(checkpoint, seed, [c.name for c in self.countries], templates)
        self.checkpoint = str(checkpoint)
        self.random_weights = self.checkpoint == "tiny"  # said on the CLI, the figures and the reports
        from geoxai import hub

        spec = self.checkpoint if hub.is_hub(self.checkpoint) else f"hf://{self.checkpoint}"
        if hub.provenance(spec):  # loaded from the Hub: outputs record the repo and commit
            self.weights_provenance = hub.provenance(spec)
        size = int(clip.config.vision_config.image_size)
        self.view_config = self.view_config.replace(input_size=size, resize_size=size)
        self.vision = clip.vision_model
        self.projection = clip.visual_projection
        self.unit = L2Normalize(dim=-1)  # a module, so conservative LRP treats the norm as a constant
        self.register_buffer("logit_scale", clip.logit_scale.detach().clone())
        self.register_buffer("text_features", prompt_features(clip, tokenizer, [c.name for c in self.countries],
                                                              templates))
        for p in self.parameters():  # explanations need input gradients, not weight gradients
            p.requires_grad_(False)
        self.eval()

    def view(self, image: np.ndarray) -> torch.Tensor:
        """CLIP's evaluation view: bicubic resize of the short side, centre crop."""
        h, w = image.shape[:2]
        resize, crop_size = self.view_config.resize_size, self.view_config.input_size
        scale = resize / min(h, w)
        size = (max(resize, round(w * scale)), max(resize, round(h * scale)))
        resized = np.array(Image.fromarray(image).resize(size, Image.BICUBIC))
        top, left = (resized.shape[0] - crop_size) // 2, (resized.shape[1] - crop_size) // 2
        crop = resized[top:top + crop_size, left:left + crop_size]
        return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """CLIP logits [B, countries]: logit_scale * cos(image embedding, prompt embedding)."""
        image = self.unit(self.projection(self.vision(pixel_values=x).pooler_output))
        return self.logit_scale.exp() * image @ self.text_features.t()


@torch.no_grad()
def prompt_features(clip, tokenizer, names: list[str], templates: list[str]) -> torch.Tensor:
    """Unit-length text embedding per country, averaged over the templates [countries, D]."""
    total = None
    for template in templates:
        tokens = tokenizer([template.format(country=n) for n in names], padding=True, return_tensors="pt")
        out = clip.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        feats = out if isinstance(out, torch.Tensor) else out.pooler_output
        feats = torch.nn.functional.normalize(feats, dim=-1)
        total = feats if total is None else total + feats
    return torch.nn.functional.normalize(total, dim=-1)


def clip_image_size(checkpoint) -> int:
    """The vision tower's input size of a checkpoint, from its config.json alone ("tiny": 32)."""
    import json

    if str(checkpoint) == "tiny":
        return TINY_IMAGE_SIZE
    folder = Path(str(checkpoint)).expanduser()
    if not folder.is_dir():
        from geoxai import hub

        spec = str(checkpoint) if hub.is_hub(str(checkpoint)) else f"hf://{checkpoint}"
        folder = Path(hub.snapshot(spec, allow_patterns=["config.json"]).path)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return int(config["vision_config"]["image_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OSError(f"{folder}: no CLIP config.json with vision_config.image_size ({exc})") from None


def load_clip(checkpoint, seed: int, names: list[str], templates: list[str]):
    """(CLIPModel, tokenizer) for a checkpoint: "tiny", a local folder, a Hub id or hf:// spec."""
    from transformers import AutoTokenizer, CLIPModel

    if str(checkpoint) == "tiny":
        return tiny_clip(seed, names, templates)
    folder = Path(str(checkpoint)).expanduser()
    if not folder.is_dir():
        from geoxai import hub

        spec = str(checkpoint) if hub.is_hub(str(checkpoint)) else f"hf://{checkpoint}"
        repo = hub.parse(spec)[0]
        if repo in LICENCES:
            warnings.warn(f"{repo} weights are licensed {LICENCES[repo]}", UserWarning, stacklevel=3)
        found = hub.snapshot(spec, allow_patterns=HUB_FILES)
        folder = Path(found.path)
        if not any(folder.glob("*.safetensors")):
            # older repos publish only pytorch_model.bin; transformers reads it with
            # torch.load(weights_only=True), which runs no code from the file
            found = hub.snapshot(spec, allow_patterns=[*HUB_FILES, "pytorch_model.bin"])
            folder = Path(found.path)
    try:
        return CLIPModel.from_pretrained(str(folder)).eval(), AutoTokenizer.from_pretrained(str(folder))
    except pickle.UnpicklingError:
        # torch.load(weights_only=True) met something other than tensors: it could run code
        raise OSError(f"{folder}: refused: its pickled weights hold more than tensors (loading them could "
                      f"run code); use a safetensors checkpoint") from None
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OSError(f"{folder}: not a CLIP checkpoint with its tokenizer ({first})") from None


def tiny_clip(seed: int, names: list[str], templates: list[str]):
    """A random CLIP small enough for CPU tests and a word-level tokenizer over the prompts' words,
    built offline with ``tokenizers`` (CLIP's real BPE vocabulary is not needed for random weights)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

    words = sorted({w for t in templates for n in names
                    for w in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(t.format(country=n).lower())
                    for w in [w[0]]})
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "<|startoftext|>", *words, "<|endoftext|>"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", vocab["<|startoftext|>"]), ("<|endoftext|>", vocab["<|endoftext|>"])])
    from tokenizers import normalizers

    core.normalizer = normalizers.Lowercase()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="<|startoftext|>", eos_token="<|endoftext|>")
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, pad_token_id=vocab["[PAD]"],
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=TINY_IMAGE_SIZE, patch_size=8),
        projection_dim=16)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return CLIPModel(config).eval(), tokenizer
    finally:
        torch.random.set_rng_state(state)
