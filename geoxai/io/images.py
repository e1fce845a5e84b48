"""Reading photos the way users have them: any mode, EXIF-rotated, sometimes broken.

Every failure is an ``ImageError`` whose message is one line naming the file and the problem.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: images above this many pixels are decoded reduced (JPEG draft mode) and then downscaled,
#: so a 400-megapixel panorama costs neither minutes nor gigabytes.
MAX_PIXELS = 64_000_000
#: longest side kept after loading; geolocation models look at 224-px crops.
MAX_SIDE = 4096

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


class ImageError(ValueError):
    pass


def load_image(path: str | os.PathLike, max_side: int = MAX_SIDE) -> np.ndarray:
    """Load an image as RGB uint8 [H, W, 3], upright according to its EXIF orientation."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS and im.format == "JPEG":
                    im.draft("RGB", (max_side, max_side))
                im.load()
                return to_rgb_array(im, max_side)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image too large to decode safely (over {MAX_PIXELS * 2:,} pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image or an unsupported format") from None
    except OSError as exc:
        raise ImageError(f"{path}: unreadable or truncated image ({exc})") from None
    except (ValueError, SyntaxError) as exc:
        raise ImageError(f"{path}: corrupt image ({exc})") from None


def to_rgb_array(im: Image.Image, max_side: int = MAX_SIDE) -> np.ndarray:
    """Any PIL image -> upright RGB uint8 array, downscaled so the longest side is <= max_side."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.round().astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent pixels become white, as a viewer shows them on a page.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if im.mode == "CMYK":
        # Adobe-written JPEG CMYK is stored inverted; PIL's convert handles plain CMYK.
        im = im.convert("RGB")
    im = im.convert("RGB")
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8).copy()


def resize_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the shorter side is ``size`` (bilinear, as torchvision's Resize(int) on PIL)."""
    h, w = image.shape[:2]
    if min(h, w) == size:
        return image
    if h <= w:
        nh, nw = size, int(size * w / h)
    else:
        nh, nw = int(size * h / w), size
    return np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Centre crop to size x size (torchvision's rounding); pads with black if the image is smaller."""
    h, w = image.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        image = np.pad(image, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        h, w = image.shape[:2]
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return image[top:top + size, left:left + size]


def list_images(paths) -> list[Path]:
    """Expand files and folders (recursively) into image files, sorted, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()))
        else:
            out.append(p)
    return out
