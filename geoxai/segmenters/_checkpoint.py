"""Strict state_dict loading with one-line errors that name the file and what is wrong."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a plain ``torch.save(module.state_dict())`` file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip, EOF and runtime errors alike
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a readable PyTorch checkpoint for the {what} ({detail[:200]})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state_dict (parameter name -> tensor) for the {what}, "
                         f"found {type(state).__name__}")
    return dict(state)


def load_strict(module: nn.Module, path: str | os.PathLike, what: str,
                optional: tuple[str, ...] = ()) -> None:
    """Load ``path`` into ``module``; every key must match by name and shape.

    Buffers whose name ends with one of ``optional`` (training bookkeeping that inference never
    reads) may be absent from the file and then keep their current values; nothing may be extra.
    """
    state = read_state_dict(path, what)
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
