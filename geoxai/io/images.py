"""Reading photos the way users have them: any mode, EXIF-rotated, sometimes broken.

Every failure is an ``ImageError`` whose message is one line naming the file (escaped, see
``display_path``) and the problem.

Size limits (decided here, once):

* JPEG: any size JPEG allows (65,535 px a side). Above ``MAX_PIXELS`` a JPEG is decoded reduced
  (libjpeg's DCT scaling through Pillow's ``draft``, 1/2 to 1/8), so a 108-megapixel photo costs
  about a quarter of its full size in memory. Pillow's decompression-bomb check does not apply:
  the decoded size is bounded by the reduction, not by the file.
* Every other format (PNG, TIFF, WebP, BMP, GIF) is decoded in full, so it is refused above
  Pillow's ``Image.MAX_IMAGE_PIXELS`` (89,478,485 pixels unless the application changed it).
* After decoding, the longest side is scaled down to ``MAX_SIDE``.
"""
from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

#: JPEGs above this many pixels are decoded reduced (draft mode) and then downscaled,
#: so a 400-megapixel panorama costs neither minutes nor gigabytes.
MAX_PIXELS = 64_000_000
#: longest side kept after loading; geolocation models look at 224-px crops.
MAX_SIDE = 4096
#: the longest file name (bytes) most file systems store; a longer one cannot exist.
NAME_MAX = 255

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

_JPEG_MAGIC = b"\xff\xd8\xff"
_EOI = b"\xff\xd9"


class ImageError(ValueError):
    pass


def display_path(path: str | os.PathLike) -> str:
    """``path`` as one printable line: undecodable bytes as ``\\xff``, control characters
    (newlines, tabs, escapes) as ``\\n`` etc., so an error message never splits or garbles."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xdc00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)


def storable_name(text: str) -> str:
    """``text`` unchanged if it can be written as UTF-8, else escaped like ``display_path``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return display_path(text)


def check_file_name(path: str | os.PathLike) -> None:
    """Refuse names that cannot round-trip through our outputs: bytes that are not UTF-8 (they
    cannot be written to a UTF-8 CSV, JSON or Parquet file) and components longer than a file
    system allows."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ImageError(f"{display_path(path)}: file name is not valid UTF-8; rename the file") from None
    if "\0" in text:  # no file can have it: the OS refuses the name ("embedded null byte")
        raise ImageError(f"{display_path(path)}: file name contains a NUL byte")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise ImageError(f"{display_path(path)[:80]}...: file name longer than {NAME_MAX} bytes")


def load_image(path: str | os.PathLike, max_side: int = MAX_SIDE) -> np.ndarray:
    """Load an image as RGB uint8 [H, W, 3], upright according to its EXIF orientation."""
    path = Path(path)
    check_file_name(path)
    shown = display_path(path)
    fh = open_regular_file(path)
    try:
        is_jpeg = fh.read(len(_JPEG_MAGIC)) == _JPEG_MAGIC
        data = fh.read() if is_jpeg else b""
    except OSError as exc:
        fh.close()
        raise ImageError(f"{shown}: cannot read ({exc.strerror or exc})") from None
    try:
        with fh:
            im = _decode_jpeg(_JPEG_MAGIC + data, shown, max_side) if is_jpeg else _decode_other(fh, shown)
        with im:
            return to_rgb_array(im, max_side)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise ImageError(f"{shown}: over {2 * limit:,} pixels; the limit is {limit:,} for formats other "
                         f"than JPEG (Pillow's Image.MAX_IMAGE_PIXELS)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{shown}: not an image or an unsupported format") from None
    except OSError as exc:
        raise ImageError(f"{shown}: unreadable or truncated image ({exc})") from None
    except (ValueError, SyntaxError) as exc:
        raise ImageError(f"{shown}: corrupt image ({exc})") from None


def open_regular_file(path: str | os.PathLike) -> io.BufferedReader:
    """``path`` opened for reading, if it is a regular file; never blocks. A FIFO, device or
    socket (even named ``x.jpg``) would block or never end, and a folder is no image: each is a
    one-line ImageError. Opened with O_NONBLOCK and checked with fstat on the open file, so a
    file swapped for a FIFO after a check cannot block either."""
    shown = display_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageError(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{shown}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageError(f"{shown}: cannot read ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ImageError(f"{shown}: is a folder, not an image")
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise ImageError(f"{shown}: {kind}, not an image file; skipped")
    return os.fdopen(fd, "rb")


def _open_jpeg(data: bytes, max_side: int) -> Image.Image:
    # The plugin class directly: Image.open would apply Pillow's bomb check to the full size,
    # which draft() is about to reduce.
    im = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    if im.width * im.height > MAX_PIXELS:
        im.draft(im.mode if im.mode in ("RGB", "L") else None, (max_side, max_side))
    im.load()
    return im


def _decode_jpeg(data: bytes, shown: str, max_side: int) -> Image.Image:
    im = _open_jpeg(data, max_side)
    # A cut progressive JPEG is blurred rather than grey, so it is always checked (a second
    # decode); a baseline one only when its last block is exact mid-grey.
    progressive = bool(im.info.get("progressive") or im.info.get("progression"))
    if (progressive or _looks_cut(im)) and _scan_incomplete(data, im, max_side):
        im.close()
        raise ImageError(f"{shown}: unreadable or truncated image (the JPEG scan data ends early; "
                         f"the rest would be grey)")
    return im


def _looks_cut(im: Image.Image) -> bool:
    """libjpeg fills the blocks after the end of the data with zero coefficients, i.e. exact
    mid-grey, up to the bottom-right corner: a cheap test that is rarely true of a real photo."""
    if im.mode not in ("RGB", "L"):
        return False
    corner = np.asarray(im.crop((max(0, im.width - 2), max(0, im.height - 2), im.width, im.height)))
    return bool((corner == 128).all())


def _scan_incomplete(data: bytes, decoded: Image.Image, max_side: int) -> bool:
    """Decode again with bytes inserted before the final EOI marker. A complete scan ends before
    them (libjpeg skips extraneous bytes up to the marker), so the pixels are identical; a cut
    scan reads them as image data, so the pixels change."""
    end = data.rfind(_EOI)
    if end < 0:
        return False
    filler = np.random.default_rng(0).integers(1, 0xFF, 4096, dtype=np.uint8).tobytes()  # no 0xFF: no marker
    try:
        again = _open_jpeg(data[:end] + filler + data[end:], max_side)
    except (OSError, SyntaxError, ValueError):
        return True
    with again:
        return again.size != decoded.size or not np.array_equal(np.asarray(again), np.asarray(decoded))


def _decode_other(fh: io.BufferedReader, shown: str) -> Image.Image:
    fh.seek(0)
    with warnings.catch_warnings():
        # the size is checked below, against the same limit, with a message naming the file
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(fh)
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and im.width * im.height > limit:
        im.close()
        raise ImageError(f"{shown}: {im.width}x{im.height} = {im.width * im.height:,} pixels is over the "
                         f"limit of {limit:,} for {im.format or 'this format'} (only JPEGs are decoded reduced)")
    im.load()
    return im


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


class ImageListing(list):
    """``list_images``' result: the image paths, plus what was passed over and why."""

    def __init__(self, paths=(), unsupported: int = 0, suffixes: frozenset[str] = frozenset()) -> None:
        super().__init__(paths)
        self.unsupported = unsupported
        self.suffixes = suffixes

    def no_images_message(self, inputs) -> str:
        where = ", ".join(display_path(p) for p in inputs)
        if self.unsupported:
            kinds = ", ".join(sorted(self.suffixes)) or "no suffix"
            return (f"no images found in {where} ({self.unsupported} file(s) of unsupported types: {kinds}; "
                    f"supported: {', '.join(sorted(IMAGE_SUFFIXES))})")
        return f"no images found in {where}"


def list_images(paths) -> ImageListing:
    """Expand files and folders (recursively) into image files, sorted, in a stable order.

    A file named directly is kept whatever it is (``load_image`` then says what is wrong with
    it); in a folder only files with a supported suffix are kept, and the others are counted.
    A path that cannot even be examined (a name too long for the file system) is kept too, so
    it gets its one-line error where it is loaded instead of stopping the listing.
    """
    out: list[Path] = []
    unsupported, suffixes = 0, set()
    for p in map(Path, paths):
        try:
            is_dir = p.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            out.append(p)
            continue
        found = []
        for root, _dirs, files in os.walk(p):
            for name in files:
                q = Path(root) / name
                if q.suffix.lower() in IMAGE_SUFFIXES:
                    found.append(q)
                elif not name.startswith("."):
                    unsupported += 1
                    suffixes.add(q.suffix.lower() or "(none)")
        out.extend(sorted(found))
    return ImageListing(out, unsupported, frozenset(suffixes))
