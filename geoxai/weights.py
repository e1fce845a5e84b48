"""Official weight files: a registry, a cache, verified downloads and a local-file override.

Plugins add files through the ``register_weights`` hook. Files live in ``$GEOXAI_HOME/weights``
(default: the user cache directory). A download goes to a temporary file, is checked against
its sha256 and only then renamed into place, so an interrupted download never leaves a file
that looks complete.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .cache import WeightsUnavailableError, geoxai_home
from .cache import weights_fix as weights_fix
from .cache import weights_message as weights_message
from .hub import download as hub_download
from .hub import is_hub
from .io.atomic import atomic_path


class ChecksumError(ValueError):
    pass


@dataclass(frozen=True)
class WeightFile:
    name: str
    url: str
    filename: str
    sha256: str | None = None  # None where the publisher gives no checksum; then size is checked
    size: int | None = None
    description: str = ""
    license: str = ""


def cache_dir() -> Path:
    return geoxai_home() / "weights"


def registered() -> dict[str, WeightFile]:
    from .plugins import registry

    return dict(sorted(registry().weights.items()))


def get(name: str) -> WeightFile:
    files = registered()
    try:
        return files[name]
    except KeyError:
        raise KeyError(f"unknown weight file {name!r}; known: {', '.join(files) or 'none'}") from None


def cached_path(wf: WeightFile) -> Path:
    return cache_dir() / wf.name / wf.filename


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify(wf: WeightFile, path: Path) -> None:
    if wf.size is not None and path.stat().st_size != wf.size:
        raise ChecksumError(f"{path}: size {path.stat().st_size} bytes, expected {wf.size} for {wf.name!r}")
    if wf.sha256 is not None and sha256_of(path) != wf.sha256.lower():
        raise ChecksumError(f"{path}: sha256 does not match the published checksum of {wf.name!r}")


def download(wf: WeightFile | str, progress: bool = True, force: bool = False, timeout: float = 60.0) -> Path:
    """Download (or find in the cache) a registered weight file and return its path."""
    wf = get(wf) if isinstance(wf, str) else wf
    dest = cached_path(wf)
    if dest.exists() and not force:
        return dest
    try:
        with atomic_path(dest) as tmp:  # a failed or interrupted download leaves nothing behind
            with urllib.request.urlopen(wf.url, timeout=timeout) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or wf.size
                bar = _progress(total, f"{wf.name}", progress)
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
                bar.close()
            verify(wf, tmp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, ChecksumError):
            raise
        raise unavailable(wf, reason=str(getattr(exc, "reason", exc))) from None
    return dest


def missing_message(wf: WeightFile, reason: str = "") -> str:
    """What is missing and where it would go; the fix is added per plugin kind and surface."""
    why = f" ({reason})" if reason else ""
    return (
        f"weights {wf.name!r} are not available: {cached_path(wf)} does not exist and the download from "
        f"{wf.url} failed{why}. Download that file on a machine with internet access and place it at "
        f"{cached_path(wf)}"
    )


def unavailable(wf: WeightFile, reason: str = "") -> WeightsUnavailableError:
    """The error for a missing registered file, before the plugin that needs it is known."""
    missing = missing_message(wf, reason)
    return WeightsUnavailableError(f"{missing}, or give the plugin that needs it its path (weights=PATH).",
                                   missing=missing)


def resolve(name: str, weights: str | os.PathLike | None = None, download_missing: bool = True,
            progress: bool = True) -> Path:
    """The local path of weight file ``name``: ``weights`` if given (a path or ``hf://...``, see
    ``geoxai.hub``), else the cache, else a download."""
    if weights is not None and is_hub(weights):
        return Path(hub_download(str(weights)).path)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.exists():
            raise WeightsUnavailableError(f"{path}: weights file does not exist")
        return path
    wf = get(name)
    path = cached_path(wf)
    if path.exists():
        return path
    if not download_missing:
        raise unavailable(wf, "not downloaded; downloads disabled")
    return download(wf, progress=progress)


def local_weights(weights: str | os.PathLike) -> str | os.PathLike:
    """``weights=`` as a model factory gets it: an ``hf://`` spec becomes its file in the cache."""
    return str(resolve("", weights)) if is_hub(weights) else weights


def load_state_dict(path: str | os.PathLike) -> dict:
    """A state dict from a file, running no code from it: safetensors, else a pickle through the
    safe loader (tensors and plain containers only)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return _load_pickle(path)


def _load_pickle(path: Path) -> dict:
    from .io.checkpoint import load_checkpoint  # torch's weights_only unpickler, our allowlist

    return load_checkpoint(path)


def install_local(name: str, source: str | os.PathLike, copy: bool = True) -> Path:
    """Put a file obtained elsewhere into the cache after checking it."""
    wf = get(name)
    dest = cached_path(wf)
    verify(wf, Path(source))
    with atomic_path(dest) as tmp:
        (shutil.copyfile if copy else shutil.move)(source, tmp)
    return dest


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total or None, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not enabled, leave=False)
