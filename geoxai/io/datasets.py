"""Geotagged image datasets: what ``evaluate`` and ``report`` read.

Three layouts are accepted:

* geoxai's CSV: columns ``image,lat,lon`` and optionally ``id``; relative image paths are relative
  to the CSV's folder.
* the SemP authors' test-set convention: a CSV with ``img_id,latitude,longitude`` and the images
  under ``img/`` beside it.
* a folder of geotagged photos: coordinates from each file's EXIF GPS block.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..geodesy import validate_coordinates
from .images import IMAGE_SUFFIXES, list_images

IMAGE_COLUMNS = ("image", "img_path", "path", "file")
LAT_COLUMNS = ("lat", "latitude")
LON_COLUMNS = ("lon", "lng", "longitude")
ID_COLUMNS = ("id", "img_id", "image_id")


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Sample:
    id: str
    image: Path
    lat: float
    lon: float


def read_dataset(path: str | os.PathLike) -> list[Sample]:
    """Read a dataset from a CSV file or a folder of geotagged photos (see the module doc)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: dataset not found")
    samples = _read_folder(path) if path.is_dir() else _read_csv(path)
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise DatasetError(f"{path}: image id {s.id!r} appears more than once; ids must be unique")
        seen.add(s.id)
    return samples


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


def _read_csv(path: Path) -> list[Sample]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV ({exc})") from None
    lat_col, lon_col = _pick(columns, LAT_COLUMNS), _pick(columns, LON_COLUMNS)
    image_col, id_col = _pick(columns, IMAGE_COLUMNS), _pick(columns, ID_COLUMNS)
    missing = [what for what, col in (("lat", lat_col), ("lon", lon_col)) if col is None]
    if image_col is None and id_col is None:
        missing.insert(0, "image")
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'} "
            f"(need image,lat,lon[,id] or the img_id,latitude,longitude layout with images in img/)"
        )
    base = path.parent
    authors_layout = image_col is None  # img_id names a file under img/
    lats, lons, samples = [], [], []
    for line, row in enumerate(rows, start=2):
        try:
            lat, lon = float(row[lat_col]), float(row[lon_col])
        except (TypeError, ValueError):
            raise DatasetError(
                f"{path}:{line}: latitude/longitude {row[lat_col]!r},{row[lon_col]!r} are not numbers") from None
        if authors_layout:
            image = _authors_image(base, row[id_col].strip())
        else:
            image = Path(row[image_col].strip())
            image = image if image.is_absolute() else base / image
        sample_id = (row[id_col].strip() if id_col and row[id_col].strip() else None) or _default_id(image, base)
        lats.append(lat)
        lons.append(lon)
        samples.append(Sample(sample_id, image, lat, lon))
    if lats:
        try:
            validate_coordinates(lats, lons, where=str(path))
        except ValueError as exc:  # report the CSV line, not the row index
            raise DatasetError(_with_line_numbers(str(exc))) from None
    return samples


def _with_line_numbers(message: str) -> str:
    head, sep, tail = message.partition("first at row ")
    if not sep:
        return message
    row, _, rest = tail.partition(":")
    return f"{head}first on line {int(row) + 2}:{rest}"


def _authors_image(base: Path, img_id: str) -> Path:
    direct = base / "img" / img_id
    if direct.suffix.lower() in IMAGE_SUFFIXES or direct.exists():
        return direct
    for suffix in (".jpg", ".jpeg", ".png", ".JPG"):
        candidate = direct.with_name(direct.name + suffix)
        if candidate.exists():
            return candidate
    return direct


def _default_id(image: Path, base: Path) -> str:
    try:
        return image.relative_to(base).as_posix()
    except ValueError:
        return image.as_posix()


def _read_folder(folder: Path) -> list[Sample]:
    samples, untagged = [], []
    for image in list_images([folder]):
        coords = exif_gps(image)
        if coords is None:
            untagged.append(image)
            continue
        samples.append(Sample(image.relative_to(folder).as_posix(), image, *coords))
    if not samples:
        raise DatasetError(f"{folder}: no image with EXIF GPS coordinates found ({len(untagged)} without)")
    return samples


def exif_gps(path: str | os.PathLike) -> tuple[float, float] | None:
    """(lat, lon) from a photo's EXIF GPS block, or None if it has none or it is unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            gps = im.getexif().get_ifd(0x8825)
    except Exception:
        return None
    try:
        lat = _dms(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _dms(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        return None
    return lat, lon


def _dms(value) -> float:
    d, m, s = (float(v) for v in value)
    return d + m / 60.0 + s / 3600.0
