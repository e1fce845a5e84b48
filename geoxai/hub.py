"""Weights from the Hugging Face Hub: ``hf://ORG/REPO[@REVISION][/FILE]``.

Files are fetched with ``huggingface_hub`` into geoxai's cache (``$GEOXAI_HOME/hf``), never into a
folder of the user's choosing by accident, and every resolved file is recorded with the commit it
came from (``provenance``), so outputs can say exactly which weights made them. Without ``/FILE`` the
repository's ``model.safetensors`` is preferred over pickled ``pytorch_model.bin``. ``HF_HUB_OFFLINE=1``
(or no network) uses the cache only; a file that is not there is a one-line ``WeightsUnavailableError``
naming the repository and the file, like every other missing weight file.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeGuard

PREFIX = "hf://"
#: tried in order when the spec names no file: safetensors first (loading it runs no code)
DEFAULT_FILES = ("model.safetensors", "pytorch_model.bin")
_SPEC = re.compile(r"hf://(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[\w.-]+))?(?:/(?P<file>.+))?")


@dataclass(frozen=True)
class HubFile:
    spec: str
    repo: str
    filename: str
    revision: str      # the commit the file was read from (40 hex digits)
    path: str

    def record(self) -> dict[str, str]:
        """What outputs' JSON records about these weights."""
        return {k: v for k, v in asdict(self).items() if k != "path"}


_RESOLVED: dict[str, HubFile] = {}


def is_hub(spec: object) -> TypeGuard[str]:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse(spec: str) -> tuple[str, str | None, str | None]:
    """``hf://ORG/REPO[@REVISION][/FILE]`` -> (repo, revision or None, file or None)."""
    match = _SPEC.fullmatch(spec.strip())
    if not match:
        raise ValueError(f"--weights {spec!r}: expected hf://ORG/REPO[@REVISION][/FILE]")
    return match["repo"], match["revision"], match["file"]


def cache_dir() -> Path:
    from .cache import geoxai_home

    return geoxai_home() / "hf"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _commit_of(path: str) -> str:
    parts = Path(path).parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts else "unknown"


def _unavailable(spec: str, repo: str, filename: str, reason: str):
    from .cache import WeightsUnavailableError

    return WeightsUnavailableError(
        f"weights {spec!r} are not available: file {filename!r} of Hugging Face repo {repo!r} is not in the "
        f"cache {cache_dir()} and could not be downloaded ({reason}). Download it on a machine with internet "
        f"access (same GEOXAI_HOME) or pass its local path with --weights PATH (weights=PATH in Python).")


def download(spec: str) -> HubFile:
    """The local copy of a Hub weight file (downloaded once, then read from the cache)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    repo, revision, filename = parse(spec)
    candidates = (filename,) if filename else DEFAULT_FILES
    reason = "not found"
    for name in candidates:
        try:
            path = hf_hub_download(repo, name, revision=revision, cache_dir=cache_dir(),
                                   local_files_only=_offline(), endpoint=os.environ.get("HF_ENDPOINT") or None)
        except EntryNotFoundError:  # the repository has no such file: try the next candidate
            reason = f"the repo has no {name}"
            continue
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if filename is None:
                continue
            raise _unavailable(spec, repo, name, reason) from None
        found = HubFile(spec, repo, name, _commit_of(path), path)
        _RESOLVED[spec] = found
        return found
    raise _unavailable(spec, repo, filename or " or ".join(DEFAULT_FILES), reason)


def snapshot(spec: str, allow_patterns: list[str] | None = None) -> HubFile:
    """A whole repository folder (e.g. a transformers checkpoint) in geoxai's cache."""
    from huggingface_hub import snapshot_download

    repo, revision, filename = parse(spec)
    if filename:
        raise ValueError(f"{spec!r}: a checkpoint folder is a whole repo, drop the /{filename}")
    try:
        path = snapshot_download(repo, revision=revision, cache_dir=cache_dir(), allow_patterns=allow_patterns,
                                 local_files_only=_offline(), endpoint=os.environ.get("HF_ENDPOINT") or None)
    except Exception as exc:  # huggingface_hub raises many kinds; all mean "not available here"
        raise _unavailable(spec, repo, ", ".join(allow_patterns or ["*"]),
                           (str(exc).strip().splitlines() or [type(exc).__name__])[0]) from None
    found = HubFile(spec, repo, "", _commit_of(path), path)
    _RESOLVED[spec] = found
    return found


def pinned(spec: str) -> str:
    """``spec`` resolved to the exact file and commit: ``hf://REPO@<commit>/<file>`` (for configs
    that must name the same weights on every later run, shard and resume)."""
    found = download(spec)
    return f"{PREFIX}{found.repo}@{found.revision}/{found.filename}"


def provenance(spec) -> dict[str, str] | None:
    """The record of a spec resolved in this process (repo, file, commit), or None."""
    found = _RESOLVED.get(spec) if isinstance(spec, str) else None
    return found.record() if found else None
