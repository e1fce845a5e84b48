"""Data shipped inside the package: ADE20k concept names, Natural Earth countries, and a few sample
photos with a clear licence (``samples/``, see its README.md), reachable from any folder::

    import geoxai.data
    path = geoxai.data.sample("chelsea")     # a pathlib.Path to the JPEG inside the installed package

On the command line, ``geoxai samples`` lists them and ``geoxai samples chelsea`` prints one path.
"""
from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def samples() -> dict[str, Path]:
    """Every shipped sample photo: name -> path."""
    return {path.stem: path for path in sorted(SAMPLES_DIR.glob("*.jpg"))}


def sample(name: str) -> Path:
    """The path of the shipped sample photo ``name`` (e.g. "chelsea"); a one-line error naming the
    known samples otherwise."""
    known = samples()
    try:
        return known[name]
    except KeyError:
        raise ValueError(f"unknown sample photo {name!r}; known samples: {', '.join(known)}") from None
