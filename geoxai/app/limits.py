"""What a web request may set: plugin options checked, path-valued ones refused, numbers capped.

The page sends options as ``key=value, key=value`` text or a JSON object. They are parsed and
type-checked by ``geoxai.options`` against what the plugin declares; then

- an option that names a file or folder is refused (:func:`path_reason`): a web page must never
  make the server open a path (``classes=/etc/passwd`` used to return the file's lines). The
  server's own command line (``geoxai app --weights``, ``--model-option``) may set them;
- numeric options are capped (:data:`CAPS`, documented in docs/security.md) so that one request
  cannot hold the CPU for hours.

Every refusal is a :class:`RequestRefused` whose one-line message names the option.
"""
from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path, PurePath
from typing import Any, Union

#: option name -> the largest value a web request may give (also each item of a list value)
CAPS: dict[str, int] = {
    "n_samples": 64,            # ig-smoothgrad noisy copies
    "n_steps": 512,             # ig-smoothgrad integration steps
    "budget": 1000,             # ig-smoothgrad forward+backward passes per image
    "batch_size": 64,
    "internal_batch_size": 256,
    "k": 100,
    "top_k": 100,
    "input_size": 1024,         # pixels per side of the model's input
    "max_size": 2048,           # segmenter: pixels per side
    "scales": 2048,             # segmenter: pixels per side of each scale
    "padding": 256,
    "width": 64,                # tiny model channels
    "num_concepts": 1000,
    "gallery_size": 100_000,
    "last_blocks": 64,
}
#: n_samples x n_steps: forward+backward passes per image, the same bound as ``budget``
MAX_PASSES = CAPS["budget"]
MAX_LIST_ITEMS = 16
#: option names that name files or folders whatever their declared type
PATH_NAME = re.compile(r"(weights|checkpoint|path|file|dir|folder|root|cache|classes|gallery|partitions|cells"
                       r"|countries|config|vocab|labels)", re.IGNORECASE)


class RequestRefused(ValueError):
    """A request the app will not run (one line naming the option or limit); the server answers
    with ``status`` (422 by default; 413 for storage, 429 for a full queue)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def check_plugin_name(kind: str, name: str) -> None:
    """Refuse a plugin name that names code to import (the command line's ``package.module:Class``):
    a web request only picks installed plugins, so the app never imports a module a page names."""
    if ":" in name:
        raise RequestRefused(f"{kind} {name!r}: the app runs installed plugins only; a name with ':' "
                             "(package.module:Class, code to import) is accepted on the command line only")


def _is_path_type(annotation: Any) -> bool:
    if annotation in (Path, PurePath, os.PathLike) or (isinstance(annotation, type)
                                                       and issubclass(annotation, (PurePath, os.PathLike))):
        return True
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return any(_is_path_type(a) for a in typing.get_args(annotation))
    return typing.get_origin(annotation) is os.PathLike


def _looks_like_path(value: str) -> bool:
    return ("/" in value or "\\" in value or value.startswith(("~", ".")) or "://" in value
            or bool(re.match(r"^[A-Za-z]:", value)))


def path_reason(name: str, value: Any, annotation: Any = Any) -> str | None:
    """Why option ``name=value`` would make the server open a path, or None."""
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if _is_path_type(annotation):
        return "its type is a file path"
    if PATH_NAME.search(name):
        return "it names a file"
    texts = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
        if isinstance(value, (list, tuple)) else [str(value)]
    if any(_looks_like_path(t) for t in texts):
        return "its value looks like a path or URL"
    return None


def check_web_options(owner: str, options: dict[str, Any], specs: dict[str, Any] | None) -> None:
    """Refuse path-valued options and numbers beyond :data:`CAPS` (``owner``: ``explainer 'lrp'``)."""
    for name, value in options.items():
        annotation = specs[name].annotation if specs and name in specs else Any
        why = path_reason(name, value, annotation)
        if why is not None:
            raise RequestRefused(f"{owner}: option {name} is not accepted from the web page ({why}); "
                                 f"set it on the server's command line (geoxai app --weights / --model-option)")
        cap = CAPS.get(name)
        if cap is None:
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(items) > MAX_LIST_ITEMS:
            raise RequestRefused(f"{owner}: option {name} has {len(items)} values; the app's limit is "
                                 f"{MAX_LIST_ITEMS}")
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool) and item > cap:
                raise RequestRefused(f"{owner}: option {name}={item} is over the app's limit of {cap}")
    samples, steps = (options.get(k, _default(specs, k)) for k in ("n_samples", "n_steps"))
    if isinstance(samples, int) and isinstance(steps, int) and samples * steps > MAX_PASSES:
        raise RequestRefused(f"{owner}: n_samples x n_steps = {samples * steps} passes per image is over the "
                             f"app's limit of {MAX_PASSES} (use budget=N for a good split)")


def _default(specs: dict[str, Any] | None, name: str) -> Any:
    spec = (specs or {}).get(name)
    return None if spec is None or spec.required else spec.default
