"""Reading checkpoint files without running anything from them.

A pickle is a program: unpickling a crafted ``.ckpt`` / ``.pth`` can call any importable function
(``torch.save`` onto a ``.pth`` file in site-packages, ``os.system``, ``torch.set_default_dtype``).
The official weight files publish no checksum, so this loader is the only line of defence.
Every checkpoint geoxai (and its plugins) reads goes through :func:`load_checkpoint`, which is
``torch.load(weights_only=True)``: torch's own restricted unpickler rebuilds tensors and plain
containers and refuses every other global. The only additions are the few non-tensor classes the
official releases pickle, each allowed by its full name and mapped to an inert stand-in through
torch's supported allowlist API (``torch.serialization.safe_globals`` with ``(stand_in, "module.Name")``
pairs, torch >= 2.6). No whole module is allowed and there is no ``find_class`` of our own.
"""
from __future__ import annotations

import argparse
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch


class CheckpointRefusedError(ValueError):
    """The file asks the unpickler for a global that is not tensors or plain data; nothing was loaded."""

    def __init__(self, path: str | os.PathLike, refused: str) -> None:
        self.path, self.refused = Path(path), refused
        super().__init__(f"{path}: refused to load: the checkpoint asks for {refused}, which is not tensors "
                         f"or plain data (geoxai loads with torch.load(weights_only=True); nothing was loaded)")

    def __reduce__(self):  # survives the trip back from a worker process
        return type(self), (self.path, self.refused)


class PickledCallbackClass:
    """Stands in for Lightning's ``ModelCheckpoint`` class. Lightning 1.0-1.4 key the ``callbacks``
    state of a checkpoint by the callback's class, so the file references the class (never an
    instance). The stand-in has no behaviour: as a dict key it only has to be hashable."""


# (stand-in, full name in the pickle). Why each one:
# - AttributeDict: Lightning's dict of hyper-parameters (``hyper_parameters`` when OmegaConf was
#   installed at training time), at the three paths it has lived at; GeoEstimation (Lightning 1.0)
#   and SemP (Lightning 1.4/1.5) checkpoints use the first. A plain ``dict`` rebuilds it (torch's
#   unpickler fills only exact dicts, so the stand-in must be ``dict`` itself).
# - argparse.Namespace: both releases build their LightningModule from ``Namespace(**model_params)``;
#   the stdlib class is its own inert stand-in (object.__new__, state set through __dict__, no
#   __setstate__, no __reduce__ of its own).
# - ModelCheckpoint: see PickledCallbackClass.
# OmegaConf's DictConfig is left out on purpose: neither release uses Hydra/OmegaConf, and its
# pickle needs a dozen omegaconf classes plus typing globals, a far larger surface.
OFFICIAL_CHECKPOINT_GLOBALS: tuple[tuple[Any, str], ...] = (
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
    (dict, "lightning_fabric.utilities.data.AttributeDict"),
    (dict, "lightning.fabric.utilities.data.AttributeDict"),
    (argparse.Namespace, "argparse.Namespace"),
    (PickledCallbackClass, "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"),
)

# torch's messages name the refused global in one of these forms
_REFUSED_PATTERNS = (
    re.compile(r"GLOBAL (\S+) was not an allowed global"),
    re.compile(r"unsupported GLOBAL (\S+) whose module"),
)


def _refused_global(message: str) -> str | None:
    for pattern in _REFUSED_PATTERNS:
        found = pattern.search(message)
        if found:
            return found.group(1).rstrip(".,")
    return None


def _detail(exc: BaseException) -> str:
    """The informative line of torch's (many-line, advice-laden) error."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in lines:
        if not line.startswith(("Weights only load failed", "Check the documentation", "(1)", "(2)")):
            return line.removeprefix("WeightsUnpickler error: ").split(" In PyTorch 2.6")[0][:200]
    return lines[0][:200] if lines else type(exc).__name__


def load_checkpoint(path: str | os.PathLike) -> Any:
    """The object in checkpoint ``path`` (a state_dict, a Lightning checkpoint dict ...), on CPU.

    Raises FileNotFoundError for a missing file, :class:`CheckpointRefusedError` (a ValueError)
    naming the file and the global it asked for when the pickle wants anything but tensors and
    plain data, and ValueError for any file torch cannot read. Each message is one line.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file does not exist")
    try:
        with torch.serialization.safe_globals(list(OFFICIAL_CHECKPOINT_GLOBALS)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # refused anyway if unsafe
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_global(str(exc))
        if refused is not None:
            raise CheckpointRefusedError(path, refused) from None
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({_detail(exc)})") from None
    except Exception as exc:  # zip, EOF, runtime and TorchScript-archive errors alike
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({_detail(exc)})") from None


def load_state_dict(path: str | os.PathLike, what: str = "model") -> dict[str, torch.Tensor]:
    """The tensors of a plain ``torch.save(module.state_dict())`` file, through :func:`load_checkpoint`;
    ``what`` names the network in the one-line errors."""
    if not Path(path).expanduser().is_file():
        raise FileNotFoundError(f"{Path(path).expanduser()}: {what} weights file not found")
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{Path(path)}: expected a state_dict (parameter name -> tensor) for the {what}, "
                         f"found {type(state).__name__}")
    return dict(state)
