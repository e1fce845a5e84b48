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


def weights_fix(kind: str, surface: str = "python", folder_files: dict[str, str] | None = None,
                field: str | None = None) -> str:
    """How to give plugin ``kind`` its weights on ``surface``: "python" (``weights=``), "cli"
    (``--weights PATH`` for the model, ``--segmenter-option weights=...`` for a segmenter) or "app"
    (the form's ``field``). ``folder_files`` (file name -> download URL) is what a plugin whose
    ``weights=`` is a folder of several files declares (the HRNet's encoder AND decoder)."""
    value = "DIR" if folder_files else "PATH"
    if surface == "cli":
        where = "--weights PATH" if kind == "model" else f"--{kind}-option weights={value}"
    elif surface == "app":
        where = f"the {field or 'weights'} field"
    else:
        where = f"weights={value} (geoxai.load_{kind}(NAME, weights={value}))"
    if folder_files:
        files = " and ".join(f"{filename} ({url})" for filename, url in folder_files.items())
        return f"or download {files} into one folder DIR and give it with {where}"
    return f"or give the file's path with {where}"


def weights_message(exc: WeightsUnavailableError, surface: str, field: str | None = None) -> str:
    """``exc``'s message with the fix for ``surface`` (see ``weights_fix``), where the plugin is known."""
    if exc.missing is None or exc.plugin is None:
        return str(exc)
    kind, _name, folder_files = exc.plugin
    return f"{exc.missing}, {weights_fix(kind, surface, folder_files, field)}."


def geoxai_home() -> Path:
    """``$GEOXAI_HOME``, else the user cache directory (e.g. ``~/.cache/geoxai``)."""
    return Path(os.environ.get("GEOXAI_HOME") or user_cache_dir("geoxai"))
