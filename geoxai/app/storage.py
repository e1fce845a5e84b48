"""Uploaded photos on disk, with a per-client storage cap and expiry.

Each client (the connecting address) keeps at most ``max_bytes`` of photos and results; an upload
that would go over first removes that client's least recently used photos (never one a queued or
running job needs), and is refused if it still does not fit. A photo unused for ``ttl_s`` seconds
is removed with the results made from it, at the next upload or job. ``clock`` is injectable so
that tests can move time on instead of waiting.
"""
from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .limits import RequestRefused

DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024
DEFAULT_MAX_STORAGE = 200 * 1024 * 1024
DEFAULT_TTL_S = 3600.0


@dataclass
class Photo:
    id: str
    path: Path
    client: str
    last_used: float
    extra_bytes: int = 0  # results made from it (job folders)

    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.parent.iterdir() if f.is_file()) + self.extra_bytes


def safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "photo").name).strip("._") or "photo"
    return stem[:80]


class PhotoStore:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_STORAGE, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.clock = clock
        self.photos: dict[str, Photo] = {}
        self._lock = threading.RLock()

    def new_folder(self, filename: str) -> tuple[str, Path]:
        photo_id = uuid.uuid4().hex[:12]
        folder = self.root / photo_id
        folder.mkdir(parents=True)
        return photo_id, folder / safe_name(filename)

    def admit(self, photo_id: str, path: Path, client: str, in_use: Iterable[str]) -> None:
        """Keep the photo written at ``path``, making room within the client's cap (or refuse it)."""
        busy = set(in_use)
        with self._lock:
            self.expire(busy)
            size = sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file())
            mine = sorted((p for p in self.photos.values() if p.client == client), key=lambda p: p.last_used)
            total = sum(p.bytes() for p in mine)
            for old in mine:
                if total + size <= self.max_bytes:
                    break
                if old.id not in busy:
                    total -= old.bytes()
                    self.remove(old.id)
            if total + size > self.max_bytes:
                shutil.rmtree(path.parent, ignore_errors=True)
                raise RequestRefused(f"this client's uploads would take over the app's storage limit of "
                                     f"{self.max_bytes} bytes while jobs still need them; wait for them to finish", 413)
            self.photos[photo_id] = Photo(photo_id, path, client, self.clock())

    def get(self, photo_id: str) -> Photo:
        with self._lock:
            photo = self.photos[photo_id]  # KeyError: unknown or expired
            photo.last_used = self.clock()
            return photo

    def expire(self, in_use: Iterable[str] = ()) -> list[str]:
        """Remove photos unused for ``ttl_s`` (except ``in_use``); returns their ids."""
        busy = set(in_use)
        now = self.clock()
        with self._lock:
            old = [p.id for p in self.photos.values() if p.id not in busy and now - p.last_used > self.ttl_s]
            for photo_id in old:
                self.remove(photo_id)
        return old

    def remove(self, photo_id: str) -> None:
        with self._lock:
            photo = self.photos.pop(photo_id, None)
        if photo is not None:
            shutil.rmtree(photo.path.parent, ignore_errors=True)
