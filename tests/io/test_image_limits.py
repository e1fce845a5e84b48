"""The limits and refusals of ``load_image`` found by the fuzz harness (issue 13, section 3):
big JPEGs decoded reduced, a clear limit for formats that cannot be reduced, cut JPEGs that
still end with an EOI marker, and file names that cannot be stored or cannot exist."""
import io
import os

import pytest
from PIL import Image

from geoxai.io import images
from geoxai.io.images import ImageError, check_file_name, display_path, list_images, load_image
from geoxai.testing import synthetic_photo


def test_a_108_megapixel_jpeg_is_decoded_reduced(tmp_path):
    # 12,000 x 9,000 = 108 Mpx: over Pillow's 89.5 Mpx bomb limit, which used to refuse it.
    # Flat content compresses to ~1 MB and encodes in well under a second.
    path = tmp_path / "big.jpg"
    Image.new("L", (12_000, 9_000), 90).save(path, quality=50)
    assert 12_000 * 9_000 > Image.MAX_IMAGE_PIXELS
    image = load_image(path)
    assert image.shape == (3072, 4096, 3)
    assert abs(int(image.mean()) - 90) <= 2


def test_formats_that_cannot_be_reduced_are_refused_above_pillows_limit(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 300), (1, 2, 3)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 400x300 = 120,000 pixels is over the limit of 100,000 for PNG")
    assert "\n" not in message
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # past twice the limit Pillow itself refuses
    with pytest.raises(ImageError, match=r"wide.png: over 100,000 pixels; the limit is 50,000 for formats other"):
        load_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120_000)
    assert load_image(path).shape == (300, 400, 3)


def _jpeg(**options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(3, 240, 320)).save(buf, "JPEG", quality=90, **options)
    return buf.getvalue()


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"optimize": True}, {"subsampling": 0}],
                         ids=["baseline", "progressive", "optimized", "444"])
@pytest.mark.parametrize("fraction", [0.15, 0.4, 0.7, 0.9, 0.99])
def test_a_cut_jpeg_that_still_ends_with_eoi_is_refused(tmp_path, options, fraction):
    data = _jpeg(**options)
    cut = data[: int(len(data) * fraction)] + b"\xff\xd9"
    path = tmp_path / "cut.jpg"
    path.write_bytes(cut)
    with pytest.raises(ImageError, match="unreadable or truncated image") as info:
        load_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    # the same cut without the marker already was refused the same way
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageError, match="unreadable or truncated image"):
        load_image(path)


@pytest.mark.parametrize("options", [{}, {"progressive": True}])
def test_complete_jpegs_load_even_when_their_corner_is_mid_grey(tmp_path, options):
    for name, image in (("grey.jpg", Image.new("RGB", (64, 48), (128, 128, 128))),
                        ("grey_l.jpg", Image.new("L", (64, 48), 128)),
                        ("photo.jpg", Image.fromarray(synthetic_photo(1, 90, 120)))):
        image.save(tmp_path / name, quality=95, **options)
        assert load_image(tmp_path / name).shape[2] == 3
    (tmp_path / "trailing.jpg").write_bytes(_jpeg(**options) + b"junk after the end")
    assert load_image(tmp_path / "trailing.jpg").shape == (240, 320, 3)


def test_names_that_cannot_be_stored_or_cannot_exist_get_one_line_errors(tmp_path):
    bad = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xff.jpg"))
    with pytest.raises(ImageError, match=r"caf\\xff\.jpg: file name is not valid UTF-8"):
        check_file_name(bad)
    long_name = tmp_path / ("x" * 300 + ".jpg")
    with pytest.raises(ImageError, match="file name longer than 255 bytes") as info:
        load_image(long_name)
    assert "\n" not in str(info.value)
    assert display_path("a\nb\tc.jpg") == "a\\nb\\tc.jpg"
    assert display_path(b"caf\xff.jpg") == "caf\\xff.jpg"
    assert display_path("ok/é.jpg") == "ok/é.jpg"


def test_a_non_utf8_file_is_listed_and_refused_on_load(tmp_path):
    folder = os.fsencode(tmp_path)
    Image.new("RGB", (8, 8)).save(os.path.join(folder, b"caf\xff.jpg").decode("utf-8", "surrogateescape"))
    Image.new("RGB", (8, 8)).save(tmp_path / "good.jpg")
    paths = list_images([tmp_path])
    assert len(paths) == 2
    with pytest.raises(ImageError, match=r"caf\\xff\.jpg: file name is not valid UTF-8"):
        load_image(paths[0] if "good" not in str(paths[0]) else paths[1])


def test_list_images_counts_what_it_passes_over(tmp_path):
    for name in ("a.heic", "b.avif", "c.svg"):
        (tmp_path / name).write_bytes(b"x")
    listing = list_images([tmp_path])
    assert list(listing) == [] and listing.unsupported == 3
    message = listing.no_images_message([tmp_path])
    assert message.startswith(f"no images found in {tmp_path} (3 file(s) of unsupported types: .avif, .heic, .svg")
    assert list_images([tmp_path / ("y" * 300)]) == [tmp_path / ("y" * 300)]  # kept: its load says why


def test_pillows_global_limit_is_left_alone(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    Image.new("L", (9_600, 9_600), 10).save(tmp_path / "big.jpg", quality=50)
    load_image(tmp_path / "big.jpg")
    assert Image.MAX_IMAGE_PIXELS == before
    assert images.MAX_PIXELS < 9_600 * 9_600
