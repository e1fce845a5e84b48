"""Output names for input files: one stem per file, unique and stable (explain, report, quality)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path


def unique_stems(paths: Sequence[Path], separator: str = "_") -> list[str]:
    """Output stems for ``paths``, unique and stable: a file's own stem (``photo``) when no other
    file shares it; on a clash its name with the extension (``photo.png``), and where even that
    repeats (same-named files in different folders) ``<name><separator>2``, ``...3`` in path
    order, skipping any stem another file already has. The same inputs always give the same
    stems, and no output overwrites another's."""
    counts = Counter(p.stem for p in paths)
    wanted = [p.stem if counts[p.stem] == 1 else p.name for p in paths]
    taken = set(wanted)
    seen: set[str] = set()
    stems = []
    for stem in wanted:
        if stem in seen:
            n = 2
            while f"{stem}{separator}{n}" in taken:
                n += 1
            stem = f"{stem}{separator}{n}"
            taken.add(stem)
        seen.add(stem)
        stems.append(stem)
    return stems
