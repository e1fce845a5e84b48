"""Geotagged image datasets: what ``evaluate`` and ``report`` read.

Three layouts are accepted:

* geoxai's CSV: columns ``image,lat,lon`` and optionally ``id``; relative image paths are relative
  to the CSV's folder.
* the SemP authors' test-set convention: a CSV with ``img_id,latitude,longitude`` and the images
  under ``img/`` beside it.
* a folder of geotagged photos: coordinates from each file's EXIF GPS block.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from ..geodesy import validate_coordinates
from .images import IMAGE_SUFFIXES, list_images, open_regular_file
from .tables import COLUMN_ALIASES, TableError, read_table

# kept for callers of the old names: the aliases live in geoxai.io.tables
IMAGE_COLUMNS = COLUMN_ALIASES["image"]
LAT_COLUMNS = COLUMN_ALIASES["lat"]
LON_COLUMNS = COLUMN_ALIASES["lon"]
ID_COLUMNS = COLUMN_ALIASES["id"]


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


def _read_csv(path: Path) -> list[Sample]:
    try:
        table = read_table(path, required=["lat", "lon"], optional=["image", "id"], one_of=["image", "id"],
                           what="dataset CSV")
    except TableError as exc:
        raise DatasetError(str(exc)) from None
    base = path.parent
    authors_layout = "image" not in table  # img_id names a file under img/
    lats, lons = np.empty(len(table)), np.empty(len(table))
    for row, (lat, lon) in enumerate(zip(table.strings("lat"), table.strings("lon"))):
        try:
            lats[row], lons[row] = float(lat), float(lon)
        except ValueError:
            raise DatasetError(
                f"{path}:{table.line(row)}: latitude/longitude {lat!r},{lon!r} are not numbers") from None
    ids = table.strings("id") if "id" in table else None
    images = table.strings("image") if not authors_layout else None
    samples = []
    for row in range(len(table)):
        if images is None:  # the authors' layout: one_of=["image", "id"] guarantees the id column
            image = _authors_image(base, cast(list[str], ids)[row])
        else:
            # never strip an image cell: ' lead.jpg' is a real file name
            image = Path(images[row])
            image = image if image.is_absolute() else base / image
        sample_id = (ids[row].strip() if ids is not None and ids[row].strip() else None) or _default_id(image, base)
        samples.append(Sample(sample_id, image, float(lats[row]), float(lons[row])))
    if len(lats):
        try:
            validate_coordinates(lats, lons, where=str(path))
        except ValueError as exc:  # report the CSV line, not the row index
            raise DatasetError(_with_line_numbers(str(exc), table)) from None
    return samples


def read_coordinates(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(lat, lon, ids) from a coordinates CSV (what ``partition build`` reads): columns lat, lon
    under any of their aliases (the same as a dataset's) and optionally an id column."""
    try:
        table = read_table(path, required=["lat", "lon"], optional=["id"], what="coordinates CSV")
        lat, lon = table.floats("lat"), table.floats("lon")
    except TableError as exc:
        raise DatasetError(str(exc)) from None
    if len(lat) == 0:
        raise DatasetError(f"{path}: no coordinates")
    try:
        validate_coordinates(lat, lon, str(path))
    except ValueError as exc:
        raise DatasetError(_with_line_numbers(str(exc), table)) from None
    return lat, lon, table.strings("id") if "id" in table else None


def _with_line_numbers(message: str, table) -> str:
    head, sep, tail = message.partition("first at row ")
    if not sep:
        return message
    row, _, rest = tail.partition(":")
    return f"{head}first on line {table.line(int(row))}:{rest}"


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
        with open_regular_file(path) as fh, Image.open(fh) as im:  # a FIFO named x.jpg never blocks
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
