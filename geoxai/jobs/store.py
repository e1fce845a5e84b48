"""Per-image rows of a job on disk: atomic Parquet part files and the manifest derived from them.

Layout of a job's folder (a job kind names the details folder and gives both schemas)::

    images/part-*.parquet     one row per image (status, error, the kind's columns)
    <details>/part-*.parquet  the kind's detail rows of those images (report: concepts, quality: curves)

A part is a pair of files with the same name. Both are written to hidden temporary files first;
then the details file and finally the images file are renamed into place. The images file is
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
MANIFEST = "manifest.txt"

#: the columns every job kind's image rows start with
BASE_IMAGE_FIELDS = [
    ("image_id", pa.string()),
    ("path", pa.string()),
    ("lat", pa.float64()),
    ("lon", pa.float64()),
    ("status", pa.string()),          # "ok" or "failed"
    ("error", pa.string()),           # why it failed (null when ok)
    # the image file's size, mtime and (small files) content hash when planned (jobs.stamps): a
    # resume computes an image again whose file changed; null in older parts
    ("image_stamp", pa.string()),
]

class PartStore:
    """The parts of one job folder. A job kind subclasses it with its two schemas (the image rows
    and the detail rows) and the details folder's name; ``output_folders`` are the other folders
    its outputs use, cleared of a killed run's temporaries too."""

    image_schema: pa.Schema = pa.schema(BASE_IMAGE_FIELDS)
    concept_schema: pa.Schema = pa.schema([("image_id", pa.string())])
    concepts_folder: str = "details"
    output_folders: tuple[str, ...] = ()

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.images_dir = self.out / IMAGES
        self.concepts_dir = self.out / self.concepts_folder
        #: image id -> stamp of its file (``geoxai.jobs.stamps``), written into its row
        self.image_stamps: dict[str, str] = {}

    def prepare(self) -> None:
        """Create the folders and clear what a killed run left half-written, in every folder
        the report owns."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.concepts_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.images_dir, self.concepts_dir, *(self.out / f for f in self.output_folders)):
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
        self.repair_duplicates()

    def _set_aside_if_damaged(self, name: str) -> None:
        """A part that is not a readable part of this folder (a crafted or corrupt file, a column
        of another type such as an int ``image_id``) is renamed ``damaged-<name>`` with one line
        naming it, and its images are computed again; the rest of the job goes on."""
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

        Each affected part is rewritten atomically (``_drop_rows``): a kill at any point leaves
        each image either still failed or not finished at all, which the next run computes:
        nothing is lost or duplicated."""
        removed = 0
        for name in self.part_names():
            frame = pq.read_table(self.images_dir / name, columns=["image_id", "status"]).to_pandas()
            forget = frame.status.eq("failed")
            if ids is not None:
                forget &= frame.image_id.isin(ids)
            if forget.any():
                gone = set(frame.image_id[forget])
                self._drop_rows(name, gone)
                removed += len(gone)
        return removed

    def forget_images(self, ids: set[str]) -> int:
        """Remove the rows of the images ``ids`` (ok or failed), as ``forget_failed`` does, so a
        resume computes them again (an image file changed since its row was computed)."""
        removed = 0
        for name in self.part_names():
            found = set(pq.read_table(self.images_dir / name, columns=["image_id"]).column(0).to_pylist()) & ids
            if found:
                self._drop_rows(name, found)
                removed += len(found)
        return removed

    def repair_duplicates(self) -> int:
        """Keep one row per image id where parts hold an id more than once (two runs that wrote
        one folder at once, before folders were locked); returns how many rows were dropped.

        The kept row is chosen by the rows alone, so every repair keeps the same one: an ``ok``
        row before a ``failed`` one, then the part whose name sorts first."""
        rows: list[tuple[str, str, bool]] = []
        for name in self.part_names():
            frame = pq.read_table(self.images_dir / name, columns=["image_id", "status"]).to_pandas()
            for image_id, status in zip(frame.image_id, frame.status):
                rows.append((image_id, name, status != "ok"))
        best: dict[str, tuple[bool, str]] = {}
        for image_id, name, failed in rows:
            if image_id not in best or (failed, name) < best[image_id]:
                best[image_id] = (failed, name)
        drop: dict[str, set[str]] = {}
        count = 0
        for image_id, name, _ in rows:
            if name != best[image_id][1]:
                drop.setdefault(name, set()).add(image_id)
                count += 1
        if count:
            print(f"warning: {self.out} held {count} duplicated image rows (two runs wrote it at once); "
                  f"kept one row per image", file=sys.stderr)
        for name, ids in sorted(drop.items()):
            self._drop_rows(name, ids)
        return count

    def _drop_rows(self, name: str, ids: set[str]) -> None:
        """Rewrite part ``name`` without the rows of ``ids``, atomically: concepts file first,
        images file last (the images file is the commit record); a part left without rows is
        deleted, images file first."""
        images = pq.read_table(self.images_dir / name)
        keep_images = ~images.column("image_id").to_pandas().isin(ids).to_numpy()
        concepts_path = self.concepts_dir / name
        if not keep_images.any():
            (self.images_dir / name).unlink()
            concepts_path.unlink(missing_ok=True)
            return
        if concepts_path.exists():
            concepts = pq.read_table(concepts_path)
            keep = ~concepts.column("image_id").to_pandas().isin(ids).to_numpy()
            if not keep.all():
                _replace_table(concepts.filter(pa.array(keep)), concepts_path)
        _replace_table(images.filter(pa.array(keep_images)), self.images_dir / name)

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
