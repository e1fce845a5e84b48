"""Per-image rows on disk: atomic Parquet part files and the manifest derived from them.

Layout of an output folder::

    images/part-*.parquet     one row per image (prediction, error, status)
    concepts/part-*.parquet   one row per image and concept present in it (ci, tki, size, valid)

A part is a pair of files with the same name. Both are written to hidden temporary files first;
then the concepts file and finally the images file are renamed into place. The images file is
the commit record: an image is finished exactly when its id is in an images part. A concepts
part without its images part (a kill between the two renames) is an orphan, deleted on the next
run, so no row is lost or duplicated whatever the moment of a ``kill -9``.

Both files are fsynced before the renames and each folder after its rename, so after a power
loss too the concepts file of a committed part exists. Should it still be missing (a file
deleted by hand, a file system that reorders), the images part is taken back on the next run and
its images computed again: a missing concepts file is never read as "no concepts".

Rows are read back sorted (images by id, concepts by id and concept index), whatever the order
of the part files, so the summary of the same rows is the same to the last bit.
"""
from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import atomic_path, fsync_dir, fsync_file, remove_stale_temporaries, write_text_atomic

IMAGES = "images"
CONCEPTS = "concepts"
MANIFEST = "manifest.txt"
#: sub-folders of a report besides the parts (outputs.PLOTS_DIR, examples.EXAMPLES_DIR): a killed
#: run's temporary files are removed from all of them
OUTPUT_FOLDERS = ("plots", "examples")

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
    ("explainer_info", pa.string()),  # JSON of the explainer's per-image facts (Explainer.last_info)
    # the image file's size, mtime and (small files) content hash when planned (report.image_stamps):
    # a resume computes an image again whose file changed; null in older parts
    ("image_stamp", pa.string()),
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
        #: image id -> stamp of its file (report.image_stamps), written into its row
        self.image_stamps: dict[str, str] = {}

    def prepare(self) -> None:
        """Create the folders and clear what a killed run left half-written, in every folder
        the report owns."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.concepts_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.images_dir, self.concepts_dir, *(self.out / f for f in OUTPUT_FOLDERS)):
            remove_stale_temporaries(folder)
        for name in self.part_names():
            self._set_aside_if_damaged(name)
        for name in self.part_names():
            if not (self.concepts_dir / name).exists():
                # committed without its concepts: take the commit back so the images are
                # computed again instead of being read as images without concepts
                print(f"warning: {self.concepts_dir / name} is missing; its images are computed again",
                      file=sys.stderr)
                (self.images_dir / name).unlink()
        fsync_dir(self.images_dir)
        committed = {p.name for p in self.images_dir.glob("part-*.parquet")}
        for orphan in self.concepts_dir.glob("part-*.parquet"):
            if orphan.name not in committed:
                orphan.unlink(missing_ok=True)

    def _set_aside_if_damaged(self, name: str) -> None:
        """A part that is not a readable part of this folder (a crafted or corrupt file, a column
        of another type such as an int ``image_id``) is renamed ``damaged-<name>`` with one line
        naming it, and its images are computed again; the rest of the report goes on."""
        for folder, schema in ((self.images_dir, self.image_schema), (self.concepts_dir, self.concept_schema)):
            path = folder / name
            problem = part_problem(path, schema) if path.exists() else None
            if problem is not None:
                print(f"warning: {path}: not a valid part ({problem}); renamed damaged-{name}, "
                      f"its images are computed again", file=sys.stderr)
                for other in (self.images_dir / name, self.concepts_dir / name):
                    if other.exists():
                        os.replace(other, other.with_name(f"damaged-{name}"))
                return

    # ---- writing -------------------------------------------------------------------------
    def write_part(self, image_rows: list[dict], concept_rows: list[dict], tag: str = "") -> str:
        name = f"part-{tag}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.parquet"
        if self.image_stamps and "image_stamp" in self.image_schema.names:
            image_rows = [{**row, "image_stamp": self.image_stamps.get(row["image_id"])} for row in image_rows]
        images = pa.Table.from_pylist(image_rows, schema=self.image_schema)
        concepts = pa.Table.from_pylist(concept_rows, schema=self.concept_schema)
        tmp_c = self.concepts_dir / f".{name}.tmp"
        tmp_i = self.images_dir / f".{name}.tmp"
        pq.write_table(concepts, tmp_c)
        pq.write_table(images, tmp_i)
        fsync_file(tmp_c)
        fsync_file(tmp_i)
        os.replace(tmp_c, self.concepts_dir / name)
        fsync_dir(self.concepts_dir)  # the concepts file is durable before the commit
        os.replace(tmp_i, self.images_dir / name)  # the commit
        fsync_dir(self.images_dir)
        return name

    def forget_failed(self, ids: set[str] | None = None) -> int:
        """Remove the rows of failed images (of ``ids``, default all) so a resume computes them
        again; returns how many were removed.

        Each affected part is rewritten atomically, concepts file first, images file last (the
        images file is the commit record); a part left without rows is deleted, images file
        first. A kill at any point leaves each image either still failed or not finished at
        all, which the next run computes: nothing is lost or duplicated."""
        return self._forget(ids, failed_only=True)

    def forget_images(self, ids: set[str]) -> int:
        """Remove the rows of the images ``ids`` (ok or failed), as ``forget_failed`` does, so
        a resume computes them again (an image file changed since its row was computed)."""
        return self._forget(ids, failed_only=False) if ids else 0

    def _forget(self, ids: set[str] | None, failed_only: bool) -> int:
        removed = 0
        for name in self.part_names():
            images = pq.read_table(self.images_dir / name)
            frame = images.select(["image_id", "status"]).to_pandas()
            forget = frame.image_id.isin(ids) if ids is not None else frame.image_id.notna()
            if failed_only:
                forget &= frame.status.eq("failed")
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
        return _read_parts(self.images_dir, self.part_names(), self.image_schema, columns, ["image_id"])

    def read_concepts(self, columns: Iterable[str] | None = None):
        return _read_parts(self.concepts_dir, self.part_names(), self.concept_schema, columns,
                           ["image_id", "concept_index", "concept"])


def part_problem(path: Path, schema: pa.Schema) -> str | None:
    """Why the Parquet file at ``path`` is no part of ``schema`` (None when it is one)."""
    try:
        found = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - whatever pyarrow says about a damaged file
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if "image_id" not in found.names:
        return "no image_id column"
    for field in found:
        if field.name in schema.names and not field.type.equals(schema.field(field.name).type):
            return f"column {field.name} is {field.type}, not {schema.field(field.name).type}"
    return None


def _read_parts(folder: Path, names: list[str], schema: pa.Schema, columns, order: list[str]):
    """The rows of every part, sorted by ``order`` (the columns of it that are read)."""
    cols = list(columns) if columns is not None else None
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(f"{folder / missing[0]}: part file missing (run the report again to "
                                f"compute its images)")
    tables = [_read_with_schema(folder / n, schema, cols) for n in names]
    if not tables:
        empty = schema if cols is None else pa.schema([schema.field(c) for c in cols])
        return empty.empty_table().to_pandas()
    # parts from before a column was added lack it: it reads as nulls there (_read_with_schema)
    frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    keys = [c for c in order if c in frame.columns]
    if keys:
        frame = frame.sort_values(keys, kind="mergesort").reset_index(drop=True)
    return frame


def _read_with_schema(path: Path, schema: pa.Schema, columns: list[str] | None) -> pa.Table:
    """Read ``columns`` (default all of ``schema``); a part written before a column was added
    gets that column as nulls, so older folders still resume and summarise."""
    wanted = columns if columns is not None else schema.names
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in wanted if c in present])
    for name in wanted:
        if name not in present:
            field = schema.field(name)
            table = table.append_column(field, pa.nulls(len(table), field.type))
    return table.select(wanted)


def _replace_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
        fsync_file(tmp)
    fsync_dir(path.parent)
