"""``merge_reports``: shards of one configuration -> one report folder.

Parts are copied (hard-linked where the file system allows) under new names, so merging into a
fresh folder, or again into the same one, never duplicates a row: an image already present in the
merged folder is skipped; the same image in two source folders with different rows is an error.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from .config import bind_config, read_config
from .store import CONCEPTS, IMAGES, PartStore


def merge_reports(dirs: Sequence[str | os.PathLike], out: str | os.PathLike, radius_km: float = 750.0,
                  min_images: int = 100):
    from ..jobs.lock import FolderLock

    with FolderLock(out, "report merge").acquire_if_exists() as lock:
        return _merge(dirs, Path(out), lock, radius_km, min_images)


def _merge(dirs: Sequence[str | os.PathLike], out: Path, lock, radius_km: float, min_images: int):
    from .outputs import finalize

    sources = [Path(d) for d in dirs]
    configs = [read_config(d) for d in sources]
    first = configs[0]
    for d, c in zip(sources[1:], configs[1:]):
        if c.fingerprint() != first.fingerprint():
            changed = sorted(k for k, v in c.fingerprint().items() if first.fingerprint().get(k) != v)
            raise ValueError(f"{d} was made with a different configuration than {sources[0]} "
                             f"(differs in {', '.join(changed)}); only shards of one report can be merged")
    lock.acquire()
    bind_config(out, first)
    target = PartStore(out)
    target.prepare()
    seen = target.finished_ids()
    owner: dict[str, Path] = {}
    for source in sources:
        if source.resolve() == out.resolve():
            continue
        store = PartStore(source)
        for name in store.part_names():
            ids = pq.read_table(store.images_dir / name, columns=["image_id"]).column(0).to_pylist()
            clash = [i for i in ids if i in owner and owner[i] != source]
            if clash:
                raise ValueError(f"image {clash[0]!r} is in both {owner[clash[0]]} and {source}; "
                                 f"were these shards of different splits?")
            owner.update((i, source) for i in ids)
            if set(ids) <= seen:
                continue  # merged before
            if set(ids) & seen:
                raise ValueError(f"{source}/{IMAGES}/{name} overlaps images already in {out}")
            _copy_part(store, target, name, name)  # part names are unique (time + random)
            seen.update(ids)
    target.write_manifest()
    _copy_example_data(sources, out)
    return finalize(out, radius_km=radius_km, min_images=min_images)


def _copy_example_data(sources: Sequence[Path], out: Path) -> None:
    """The shards' kept example data (the figures are drawn from it, without a model)."""
    from .examples import DATA_DIR, EXAMPLES_DIR

    target = out / EXAMPLES_DIR / DATA_DIR
    for source in sources:
        folder = source / EXAMPLES_DIR / DATA_DIR
        if source.resolve() == out.resolve() or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.npz")):
            if not (target / path.name).exists():
                target.mkdir(parents=True, exist_ok=True)
                _link_or_copy(path, target / path.name)


def _copy_part(source: PartStore, target: PartStore, name: str, new_name: str) -> None:
    """Copy concepts then images (the commit), each through a temp name, as the store writes."""
    for sub in (CONCEPTS, IMAGES):
        src = source.out / sub / name
        tmp = target.out / sub / f".{new_name}.tmp"
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, target.out / sub / new_name)


def _link_or_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
