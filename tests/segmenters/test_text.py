"""The ``text`` segmenter with rapidocr's real PP-OCR models: drawn signs are found and read, noise is not."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from geoxai.plugins import load_segmenter
from geoxai.segmenters.scripts import SCRIPTS, script_of

pytest.importorskip("rapidocr")
pytest.importorskip("onnxruntime")


def street_sign(text: str = "STRASSE 12") -> tuple[torch.Tensor, np.ndarray]:
    """A 640x480 photo with a green street sign; returns the pixels and the drawn glyphs' mask."""
    photo = Image.fromarray(data.rocket()).resize((640, 480))
    draw = ImageDraw.Draw(photo)
    font = ImageFont.load_default(size=36)  # Pillow's built-in font: no system font needed
    draw.rectangle([300, 40, 600, 110], fill=(20, 90, 40))
    draw.text((315, 52), text, fill=(255, 255, 255), font=font)
    glyphs = Image.new("L", photo.size)
    ImageDraw.Draw(glyphs).text((315, 52), text, fill=255, font=font)
    pixels = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].contiguous()
    return pixels, np.array(glyphs) > 0


@pytest.fixture(scope="module")
def segmenter():
    return load_segmenter("text", scripts=True, threads=2)


def test_a_drawn_sign_is_found_and_read(segmenter):
    pixels, glyphs = street_sign()
    result = segmenter.segment_masks(pixels)
    mask = result.masks[0, result.concepts.index("text")].numpy()
    assert (mask & glyphs).sum() / glyphs.sum() > 0.95          # the drawn letters are inside the mask
    sign = np.zeros_like(mask)
    sign[40:111, 300:601] = True
    assert (mask & sign).sum() / mask.sum() > 0.9                 # and the mask is (almost) only the sign
    assert [r["text"] for r in result.regions[0]] == ["STRASSE 12"]
    region = result.regions[0][0]
    assert region["script"] == "latin" and 0.5 <= region["score"] <= 1.0 and len(region["polygon"]) == 4
    # the script sub-concept is the same region; other scripts stay empty
    assert torch.equal(result.masks[0, result.concepts.index("text:latin")], result.masks[0, 0])
    assert int(result.masks[0, result.concepts.index("text:cyrillic")].sum()) == 0
    assert segmenter.segment(pixels)[0, 70, 400] == result.concepts.index("text:latin")


@pytest.mark.parametrize("photo", ["noise", "astronaut", "coffee"])
def test_photos_without_text_give_nothing(segmenter, photo):
    if photo == "noise":
        image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    else:
        image = getattr(data, photo)()
    result = segmenter.segment_masks(torch.from_numpy(image).permute(2, 0, 1)[None].contiguous())
    assert result.regions == [[]] and not result.masks.any()
    assert (segmenter.segment(torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()) == -1).all()


def test_one_instance_serves_several_threads(segmenter):
    pixels, _ = street_sign("HAUPTSTR 7")
    alone = segmenter.segment_masks(pixels)
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(segmenter.segment_masks, [pixels, pixels]))
    for result in both:
        assert torch.equal(result.masks, alone.masks) and result.regions == alone.regions


def test_sub_concepts_only_when_asked():
    assert load_segmenter("text").concepts == ["text"]
    with pytest.raises(ValueError, match="min_score"):
        load_segmenter("text", min_score=2.0)


@pytest.mark.parametrize(("text", "script"), [
    ("Bahnhofstraße 5", "latin"), ("Москва 12", "cyrillic"), ("Αθήνα", "greek"), ("شارع", "arabic"),
    ("東京駅", "cjk"), ("ひらがな", "cjk"), ("서울", "hangul"), ("תל אביב", "hebrew"), ("12 34", "none"),
    ("ABC где", "latin"),
])
def test_script_of_a_string(text, script):
    assert script_of(text) == script and script in SCRIPTS


def test_passes_the_segmenter_contract(segmenter):
    from geoxai.contract import check_segmenter

    labels = check_segmenter(segmenter)
    assert (labels == -1).all()  # skimage's sample photos carry no writing
