"""Atomic file writes: a reader (or a resumed run) sees the old file or the complete new one,
never a half-written file, and a failed write leaves no temporary file behind.

The temporary file gets the mode a plain ``open(path, "w")`` would give (0o666 minus the umask,
0644 under the usual 022), not ``mkstemp``'s private 0600, so a shared report stays readable.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it is not atomic)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        # name the file being written (in its folder), not a random temporary name
        raise OSError(exc.errno, f"cannot write here ({exc.strerror})", str(path)) from None
    try:
        os.fchmod(fd, default_file_mode())
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_file_mode())  # a writer may have replaced the file at tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the renames inside folder ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the ``.NAME.XXXX.tmp`` files a killed writer left in ``folder``; returns how many."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for tmp in folder.glob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
