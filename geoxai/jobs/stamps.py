"""Notice image files that changed in place since their rows were computed.

A row records its file's stamp: size, modification time (ns) and, for files up to
``HASHED_BYTES``, a sha256 of the bytes. On a resume an image whose file's stamp differs is
computed again (its old rows are removed first, so no row is duplicated):

- a different size is a change;
- where both stamps hold a hash, the hashes decide (a file touched but not edited is the same;
  a file edited in place with its size and mtime restored is not);
- otherwise a different mtime is a change.

Rows written before stamps existed have none and are kept as they are.
"""
from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from typing import Any

#: files up to this size get a content hash (reading them is cheap next to explaining them)
HASHED_BYTES = 1 << 20


def image_stamp(path: str | os.PathLike) -> str | None:
    """``size:mtime_ns:sha256`` of the file at ``path`` (the hash empty for larger files);
    None when it cannot be read (the worker reports why in its row)."""
    from ..io.images import open_regular_file

    try:
        with open_regular_file(path) as fh:  # never blocks on a FIFO
            st = os.fstat(fh.fileno())
            digest = hashlib.sha256(fh.read(HASHED_BYTES + 1)).hexdigest() if st.st_size <= HASHED_BYTES else ""
    except (OSError, ValueError):  # ImageError is a ValueError
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{digest}"


def stamp_changed(old: str | None, new: str | None) -> bool:
    """Whether the file behind stamp ``old`` now has different pixels (stamp ``new``)."""
    if not isinstance(old, str) or not old or not new or old == new:
        return False  # no stamp recorded (an older row) or the file is unreadable now
    old_size, old_mtime, old_hash = old.split(":", 2)
    new_size, new_mtime, new_hash = new.split(":", 2)
    if old_size != new_size:
        return True
    if old_hash and new_hash:
        return old_hash != new_hash
    return old_mtime != new_mtime


def forget_changed_images(store: Any, samples: Sequence[Any], quiet: bool = False) -> list[str]:
    """Stamp ``samples`` (their rows written through ``store`` carry the stamp) and remove the
    rows of those whose file changed since their row was computed, so the run computes them
    again. Returns the ids of the changed images (one line on stderr says how many)."""
    stamps = {s.id: image_stamp(s.image) for s in samples}
    store.image_stamps = {k: v for k, v in stamps.items() if v is not None}
    if not store.part_names():
        return []
    rows = store.read_images(columns=["image_id", "image_stamp"])
    changed = sorted({i for i, old in zip(rows.image_id, rows.image_stamp)
                      if i in stamps and stamp_changed(old, stamps[i])})
    if changed:
        store.forget_images(set(changed))
        if not quiet:
            shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
            print(f"note: {len(changed)} image file(s) changed since their rows were computed; "
                  f"computing them again: {shown}", file=sys.stderr)
    return changed
