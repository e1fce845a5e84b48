"""The ``cues`` segmenter on a randomly initialised CLIPSeg of the real architecture (small sizes), offline."""
from __future__ import annotations

import json
import string
import time

import pytest
import torch

from geoxai.cache import WeightsUnavailableError
from geoxai.plugins import load_segmenter
from geoxai.segmenters.cues import DEFAULT_CUES, parse_prompts

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A CLIPSeg checkpoint folder as the Hub has them (config, safetensors, tokenizer), random weights."""
    folder = tmp_path_factory.mktemp("clipseg")
    chars = string.ascii_lowercase + string.digits
    vocab = {c: i for i, c in enumerate(chars)} | {c + "</w>": len(chars) + i for i, c in enumerate(chars)}
    bos, eos = len(vocab), len(vocab) + 1
    vocab |= {"<|startoftext|>": bos, "<|endoftext|>": eos}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    config = transformers.CLIPSegConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=bos, eos_token_id=eos,
                         pad_token_id=eos),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16, extract_layers=[0, 1], reduce_dim=8, decoder_num_attention_heads=2,
        decoder_intermediate_size=32)
    torch.manual_seed(0)
    transformers.CLIPSegForImageSegmentation(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_one_mask_per_prompt_thresholded(checkpoint):
    cues = load_segmenter("cues", weights=str(checkpoint), prompts="a bollard, utility pole", size=32,
                          threshold=0.5)
    assert cues.concepts == ["a bollard", "utility pole"]
    images = torch.randint(0, 256, (3, 3, 40, 56), dtype=torch.uint8)
    result = cues.segment_masks(images)
    assert result.masks.shape == (3, 2, 40, 56) and result.masks.dtype == torch.bool
    probs = torch.nn.functional.interpolate(cues.scores(images), size=(40, 56), mode="bilinear", align_corners=False)
    assert torch.equal(result.masks, probs >= 0.5)
    assert result.masks.any() and not result.masks.all()  # random weights still give a non-trivial split
    lower = load_segmenter("cues", weights=str(checkpoint), prompts="a bollard, utility pole", size=32,
                           threshold=0.2).segment_masks(images).masks
    assert (lower | result.masks).equal(lower)  # a lower threshold only adds pixels


def test_scores_equal_clipseg_forward(checkpoint):
    cues = load_segmenter("cues", weights=str(checkpoint), prompts="kerb,road sign,roof", size=32)
    cues.network.double()
    cues.mean, cues.std, cues.prompt_embeddings = cues.mean.double(), cues.std.double(), cues.prompt_embeddings.double()
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    ours = cues.scores(images)
    x = (images.double() / 255 - cues.mean) / cues.std
    with torch.no_grad():
        reference = cues.network(pixel_values=x.repeat_interleave(3, 0),
                                 conditional_embeddings=cues.prompt_embeddings.repeat(2, 1)).logits
    torch.testing.assert_close(ours, torch.sigmoid(reference).view(2, 3, 32, 32), rtol=1e-10, atol=1e-12)


def test_default_and_user_prompts(tmp_path):
    assert parse_prompts() == DEFAULT_CUES and "bollard" in DEFAULT_CUES and "utility pole" in DEFAULT_CUES
    listing = tmp_path / "cues.txt"
    listing.write_text("# my cues\ntram line: overhead tram wires\nyellow taxi\n\n")
    assert parse_prompts("snow pole", listing) == {"tram line": "overhead tram wires", "yellow taxi": "yellow taxi",
                                                   "snow pole": "snow pole"}
    with pytest.raises(ValueError, match="no prompts"):
        parse_prompts(" , ")
    with pytest.raises(ValueError, match="cannot be read"):
        parse_prompts(prompts_file=tmp_path / "missing.txt")


def test_bad_options_and_pickled_weights(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="Python only"):
        load_segmenter("cues", model="CIDAS/clipseg", tokenizer="x")
    with pytest.raises(ValueError, match="threshold"):
        load_segmenter("cues", weights=str(checkpoint), threshold=1.5)
    (tmp_path / "config.json").write_text((checkpoint / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="no .safetensors"):
        load_segmenter("cues", weights=str(tmp_path))


def test_real_weights_offline_give_the_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: no network
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as caught:
        load_segmenter("cues")
    message = str(caught.value)
    assert "\n" not in message and "CIDAS/clipseg-rd64-refined" in message and "--weights" in message
    assert time.monotonic() - start < 60


def test_passes_the_segmenter_contract(checkpoint):
    from geoxai.contract import check_segmenter

    cues = load_segmenter("cues", weights=str(checkpoint), prompts="kerb,roof", size=32)
    labels = check_segmenter(cues)
    assert labels.min() >= -1 and labels.max() <= 1
