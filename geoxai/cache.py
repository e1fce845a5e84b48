"""Where geoxai keeps what it downloads or derives (weights, Hugging Face files, country tables).

A leaf module, so that the weight registry, the Hugging Face loader and the country cache can all
use it without importing each other.
"""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


class WeightsUnavailableError(FileNotFoundError):
    """The weights are not in the cache and could not be downloaded.

    ``missing`` is the part of the message that says what is missing and where it would go,
    without the fix; ``plugin`` is ``(kind, name, folder_files)`` once the plugin that needed the
    file is known, so each surface (Python, CLI, app) can give its own fix
    (``geoxai.weights.weights_message``)."""

    def __init__(self, message: str, missing: str | None = None, plugin: tuple | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.plugin = plugin

    def __str__(self) -> str:  # FileNotFoundError would format a (message, missing) pair as errno
        return str(self.args[0])


def geoxai_home() -> Path:
    """``$GEOXAI_HOME``, else the user cache directory (e.g. ``~/.cache/geoxai``)."""
    return Path(os.environ.get("GEOXAI_HOME") or user_cache_dir("geoxai"))
