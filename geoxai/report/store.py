"""Per-image rows on disk: atomic Parquet part files and the manifest derived from them.

Layout of an output folder::

    images/part-*.parquet     one row per image (prediction, error, status)
    concepts/part-*.parquet   one row per image and concept present in it (ci, tki, size, valid)

A part is a pair of files with the same name. Both are written to hidden temporary files first;
then the concepts file and finally the images file are renamed into place. The images file is
the commit record: an image is finished exactly when its id is in an images part. A concepts
part without its images part (a kill between the two renames) is an orphan, deleted on the next
run, so no row is lost or duplicated whatever the moment of a ``kill -9``.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import atomic_path, write_text_atomic

IMAGES = "images"
CONCEPTS = "concepts"
MANIFEST = "manifest.txt"

IMAGE_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("path", pa.string()),
    ("lat", pa.float64()),
    ("lon", pa.float64()),
    ("status", pa.string()),          # "ok" or "failed"
    ("error", pa.string()),           # why it failed (null when ok)
    ("pred_cell", pa.int64()),
    ("pred_key", pa.string()),
    ("pred_label", pa.string()),
    ("pred_lat", pa.float64()),
    ("pred_lon", pa.float64()),
    ("pred_prob", pa.float64()),
    ("gcd_km", pa.float64()),
    ("shard", pa.string()),
    # from the prediction's top_countries (geoxai.countries): the most probable country and
    # continent with their summed probabilities, and the country of the true location ("ocean"
    # at sea); null in parts written before these columns existed
    ("pred_country", pa.string()),
    ("pred_country_prob", pa.float64()),
    ("pred_continent", pa.string()),
    ("pred_continent_prob", pa.float64()),
    ("true_country", pa.string()),
])

CONCEPT_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("concept", pa.string()),
    ("concept_index", pa.int64()),
    ("ci", pa.float64()),
    ("tki", pa.float64()),
    ("size", pa.float64()),
    ("valid", pa.bool_()),
])


class PartStore:
    #: schemas and folder of the two files of a part; ``geoxai.quality`` stores curves the same way
    image_schema = IMAGE_SCHEMA
    concept_schema = CONCEPT_SCHEMA
    concepts_folder = CONCEPTS

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.images_dir = self.out / IMAGES
        self.concepts_dir = self.out / self.concepts_folder

    def prepare(self) -> None:
        """Create the folders and clear what a killed run left half-written."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.concepts_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.images_dir, self.concepts_dir):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        committed = {p.name for p in self.images_dir.glob("part-*.parquet")}
        for orphan in self.concepts_dir.glob("part-*.parquet"):
            if orphan.name not in committed:
                orphan.unlink(missing_ok=True)

    # ---- writing -------------------------------------------------------------------------
    def write_part(self, image_rows: list[dict], concept_rows: list[dict], tag: str = "") -> str:
        name = f"part-{tag}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.parquet"
        images = pa.Table.from_pylist(image_rows, schema=self.image_schema)
        concepts = pa.Table.from_pylist(concept_rows, schema=self.concept_schema)
        tmp_c = self.concepts_dir / f".{name}.tmp"
        tmp_i = self.images_dir / f".{name}.tmp"
        pq.write_table(concepts, tmp_c)
        pq.write_table(images, tmp_i)
        _fsync(tmp_c)
        _fsync(tmp_i)
        os.replace(tmp_c, self.concepts_dir / name)
        os.replace(tmp_i, self.images_dir / name)  # the commit
        return name

    def forget_failed(self, ids: set[str] | None = None) -> int:
        """Remove the rows of failed images (of ``ids``, default all) so a resume computes them
        again; returns how many were removed.

        Each affected part is rewritten atomically, concepts file first, images file last (the
        images file is the commit record); a part left without rows is deleted, images file
        first. A kill at any point leaves each image either still failed or not finished at
        all, which the next run computes: nothing is lost or duplicated."""
        removed = 0
        for name in self.part_names():
            images = pq.read_table(self.images_dir / name)
            frame = images.select(["image_id", "status"]).to_pandas()
            forget = frame.status.eq("failed")
            if ids is not None:
                forget &= frame.image_id.isin(ids)
            if not forget.any():
                continue
            gone = set(frame.image_id[forget])
            concepts_path = self.concepts_dir / name
            if not (~forget).any():
                (self.images_dir / name).unlink()
                concepts_path.unlink(missing_ok=True)
            else:
                if concepts_path.exists():
                    concepts = pq.read_table(concepts_path)
                    keep = ~concepts.column("image_id").to_pandas().isin(gone).to_numpy()
                    if not keep.all():
                        _replace_table(concepts.filter(pa.array(keep)), concepts_path)
                _replace_table(images.filter(pa.array((~forget).to_numpy())), self.images_dir / name)
            removed += len(gone)
        return removed

    # ---- reading -------------------------------------------------------------------------
    def part_names(self) -> list[str]:
        return sorted(p.name for p in self.images_dir.glob("part-*.parquet"))

    def finished_ids(self) -> set[str]:
        """Ids of every image with a committed row (ok or failed): what a resume skips."""
        done: set[str] = set()
        for name in self.part_names():
            done.update(pq.read_table(self.images_dir / name, columns=["image_id"]).column(0).to_pylist())
        return done

    def write_manifest(self) -> set[str]:
        """Rebuild ``manifest.txt`` (sorted finished ids) from the parts: a convenience for people
        and scripts; the parts stay the truth."""
        done = self.finished_ids()
        write_text_atomic(self.out / MANIFEST, "".join(f"{i}\n" for i in sorted(done)))
        return done

    def read_images(self, columns: Iterable[str] | None = None):
        return _read_parts(self.images_dir, self.part_names(), self.image_schema, columns)

    def read_concepts(self, columns: Iterable[str] | None = None):
        return _read_parts(self.concepts_dir, self.part_names(), self.concept_schema, columns)


def _read_parts(folder: Path, names: list[str], schema: pa.Schema, columns):
    cols = list(columns) if columns is not None else None
    tables = [pq.read_table(folder / n, columns=cols) for n in names if (folder / n).exists()]
    if not tables:
        empty = schema if cols is None else pa.schema([schema.field(c) for c in cols])
        return empty.empty_table().to_pandas()
    # parts from before a column was added lack it: it reads as nulls there
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _replace_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
        _fsync(tmp)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
