"""Where geoxai keeps what it downloads or derives (weights, Hugging Face files, country tables).

A leaf module, so that the weight registry, the Hugging Face loader and the country cache can all
use it without importing each other.
"""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


class WeightsUnavailableError(FileNotFoundError):
    """The weights are not in the cache and could not be downloaded."""


def geoxai_home() -> Path:
    """``$GEOXAI_HOME``, else the user cache directory (e.g. ``~/.cache/geoxai``)."""
    return Path(os.environ.get("GEOXAI_HOME") or user_cache_dir("geoxai"))
