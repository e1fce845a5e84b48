"""An exclusive lock on a job's output folder, so two runs never write one folder at once.

``OUT/.geoxai.lock`` is locked with ``fcntl.flock`` for as long as the run lasts and holds a JSON
record of its holder (pid, host, start time, command). The kernel releases a ``flock`` when its
holder dies, however it dies (``kill -9`` included), so a lock left by a killed run is stale by
construction: the next run takes it over and says so. A second run on a folder that a live run
holds is refused at once with one line naming the holder.

Network file systems: on NFS, Linux emulates ``flock`` with NFS byte-range locks (NFSv4, or NFSv3
with the lock manager running), which hold across machines; a lock of a client that died is freed
when its lease expires (about 90 s on NFSv4). A mount with ``nolock`` or ``local_lock=flock``
locks only on the one client (two machines would not see each other's lock), and a file system
without lock support makes the lock fail: the run is refused with one line. There, set
``GEOXAI_NO_LOCK=1`` to run without the lock and make sure one run at a time writes a folder
(shards: give each its own ``--out`` and ``merge``).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK_FILE = ".geoxai.lock"
NO_LOCK_ENV = "GEOXAI_NO_LOCK"


class FolderBusyError(ValueError):
    """The output folder is held by another live run (a ValueError: the CLI prints one line)."""


def describe_holder(record: dict[str, Any]) -> str:
    if not record:
        return "another run (its holder record is not written yet)"
    started = record.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)) if isinstance(started, (int, float)) \
        else "an unknown time"
    return (f"geoxai {record.get('command', '?')} (pid {record.get('pid', '?')} on {record.get('host', '?')}, "
            f"started {when})")


class FolderLock:
    """``with FolderLock(out, "report").acquire():`` holds ``out`` exclusively (creating it) until
    the block ends; ``acquire_if_exists()`` instead defers a new folder to a later ``acquire()``."""

    def __init__(self, folder: str | os.PathLike, command: str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.command = command
        self.fd: int | None = None
        #: the record of a killed run whose lock this run took over (None if there was none)
        self.stale: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire_if_exists(self) -> FolderLock:
        """Take the lock now if the folder exists (a busy folder is refused before any slow
        start-up); a new folder is made only once the run was checked (``acquire``)."""
        return self.acquire() if self.folder.is_dir() else self

    def acquire(self) -> FolderLock:
        if self.fd is not None or os.environ.get(NO_LOCK_ENV):
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only or missing place: one line, no traceback
            raise ValueError(f"{self.folder}: cannot write the output folder ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise FolderBusyError(f"{self.folder} is in use by {describe_holder(read_record(self.path))}; "
                                      f"wait for it to end or stop it (or use another --out)") from None
            raise ValueError(f"{self.folder}: cannot lock the folder ({exc.strerror or exc}); on a file system "
                             f"without locks set {NO_LOCK_ENV}=1 and run one job at a time there") from None
        previous = read_record(self.path)
        if previous and not _is_this_process(previous):
            # the kernel released the holder's flock: it has ended (if its pid still runs on this
            # host, that is a later process with a recycled pid, or a run that released its lock)
            self.stale = previous
            if not previous.get("ended"):
                print(f"note: {self.folder}: taking over the lock of {describe_holder(previous)}, "
                      f"which ended without releasing it", file=sys.stderr)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:  # mark the record as ended, so the next run does not report a killed run
            record = read_record(self.path)
            record["ended"] = time.time()
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, json.dumps(record).encode(), 0)
        except OSError:
            pass
        finally:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _is_this_process(record: dict[str, Any]) -> bool:
    return record.get("pid") == os.getpid() and record.get("host") == socket.gethostname()
