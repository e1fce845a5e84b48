"""Strict state_dict loading with one-line errors that name the file and what is wrong."""
from __future__ import annotations

import os
from pathlib import Path

import torch.nn as nn

from ..io.checkpoint import load_state_dict


def load_strict(module: nn.Module, path: str | os.PathLike, what: str,
                optional: tuple[str, ...] = ()) -> None:
    """Load ``path`` into ``module``; every key must match by name and shape.

    Buffers whose name ends with one of ``optional`` (training bookkeeping that inference never
    reads) may be absent from the file and then keep their current values; nothing may be extra.
    """
    state = load_state_dict(path, what)
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(optional)]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        raise ValueError(f"{Path(path)}: does not match the {what}: {'; '.join(parts)}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(f"{Path(path)}: {key} has shape {tuple(value.shape)} but the {what} "
                             f"expects {tuple(expected[key].shape)}")
    merged = {**expected, **state}
    module.load_state_dict(merged, strict=True)
