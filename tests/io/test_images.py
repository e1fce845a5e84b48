import numpy as np
import pytest
from PIL import Image

from geoxai.io import images
from geoxai.io.images import ImageError, center_crop, list_images, load_image, resize_short_side


def test_modes_become_rgb_uint8(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((10, 12), 77, np.uint8), "L").save(gray)
    rgba = tmp_path / "rgba.png"
    a = np.zeros((10, 12, 4), np.uint8)
    a[..., 0] = 200
    a[:, :6, 3] = 255  # left half opaque red, right half transparent -> white
    Image.fromarray(a, "RGBA").save(rgba)
    sixteen = tmp_path / "16bit.png"
    Image.fromarray(np.linspace(0, 65535, 120).reshape(10, 12).astype(np.uint16)).save(sixteen)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (12, 10), (0, 255, 255, 0)).save(cmyk)
    webp = tmp_path / "x.webp"
    Image.new("RGB", (12, 10), (1, 2, 3)).save(webp, lossless=True)
    for p in (gray, rgba, sixteen, cmyk, webp):
        im = load_image(p)
        assert im.dtype == np.uint8 and im.shape == (10, 12, 3), p
    assert (load_image(gray) == 77).all()
    out = load_image(rgba)
    assert tuple(out[0, 0]) == (200, 0, 0) and tuple(out[0, -1]) == (255, 255, 255)
    s = load_image(sixteen)
    assert s[0, 0, 0] == 0 and s[-1, -1, 0] == 255  # full 16-bit range mapped to 8 bits
    r, g, b = load_image(cmyk)[5, 5]
    assert r > 200 and g < 60 and b < 60  # CMYK (0,255,255,0) is red


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    p = tmp_path / "rot.jpg"
    Image.fromarray(a).save(p, exif=exif, quality=100)
    im = load_image(p)
    assert im.shape == (20, 10, 3)
    assert im[2, 5].mean() > 200 and im[-2, 5].mean() < 50  # white ends up on top


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not an image at all"), "not an image or an unsupported format"),
    (lambda p: p.write_bytes(_jpeg_bytes()[:300]), "unreadable or truncated image"),
])
def test_broken_files_give_one_line_errors(tmp_path, make, message):
    p = tmp_path / "bad.jpg"
    make(p)
    with pytest.raises(ImageError, match=message) as info:
        load_image(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="nope.jpg: file not found"):
        load_image(tmp_path / "nope.jpg")


def test_huge_images_are_decoded_reduced(tmp_path, monkeypatch):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 2000), (9, 99, 199)).save(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    im = load_image(p, max_side=512)
    assert max(im.shape[:2]) == 512 and im.shape[2] == 3


def test_resize_and_crop_follow_torchvision():
    import torch
    from torchvision.transforms import CenterCrop, Resize

    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)
    ours = center_crop(resize_short_side(a, 64), 56)
    ref = np.asarray(CenterCrop(56)(Resize(64)(Image.fromarray(a))))
    assert ours.shape == ref.shape == (56, 56, 3)
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1
    assert center_crop(a[:10, :10], 16).shape == (16, 16, 3)  # small images are padded
    del torch


def test_list_images_expands_folders(tmp_path):
    (tmp_path / "d").mkdir()
    for n in ("b.jpg", "a.PNG", "c.txt"):
        (tmp_path / "d" / n).write_bytes(b"")
    assert [p.name for p in list_images([tmp_path / "d", tmp_path / "x.jpg"])] == ["a.PNG", "b.jpg", "x.jpg"]


def _jpeg_bytes():
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()
