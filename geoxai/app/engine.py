"""What the explorer computes, without any web code: photos, jobs and their results.

A job explains one uploaded photo with a model, explainer, target and (optionally) a segmenter,
through the same functions as ``geoxai explain`` (so its JSON, ``.npy`` and overlay are the
files the CLI writes), one job at a time on a worker thread. Its stage and progress can be read
while it runs; models, explainers and segmenters are built once per set of options and reused.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("loading model", "reading photo", "explaining", "concept influence", "writing files")


class JobError(ValueError):
    """A job or photo failed for a reason the user can act on (shown as one line)."""


@dataclass
class Job:
    id: str
    request: dict[str, Any]
    state: str = "queued"                 # queued | running | done | error
    stage: str = ""
    progress: float = 0.0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def status(self) -> dict[str, Any]:
        end = self.finished or time.time()
        return {"job": self.id, "state": self.state, "stage": self.stage, "progress": round(self.progress, 3),
                "elapsed_s": round(end - self.started, 2), "error": self.error, "result": self.result,
                "request": self.request}


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "photo").name).strip("._") or "photo"
    return stem[:80]


class Explorer:
    """Photos and jobs of one app session, kept under ``workdir`` (a temporary folder by default)."""

    def __init__(self, workdir: str | Path | None = None) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="geoxai-app-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.photos: dict[str, Path] = {}
        self.jobs: dict[str, Job] = {}
        self._components: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoxai-app")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- photos ------------------------------------------------------------------------------
    def add_photo(self, filename: str, data: bytes) -> dict[str, Any]:
        """Store an uploaded photo; an unreadable one raises JobError naming the file."""
        from PIL import Image

        from ..io.images import ImageError, load_image

        photo_id = uuid.uuid4().hex[:12]
        folder = self.workdir / "photos" / photo_id
        folder.mkdir(parents=True)
        path = folder / _safe_name(filename)
        path.write_bytes(data)
        try:
            image = load_image(path)
        except ImageError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise JobError(str(exc).replace(str(path), filename or "the photo")) from None
        preview = Image.fromarray(image)
        preview.thumbnail((640, 640))
        preview.save(folder / "preview.png")
        self.photos[photo_id] = path
        return {"photo": photo_id, "name": filename, "width": int(image.shape[1]), "height": int(image.shape[0]),
                "preview": f"/api/photos/{photo_id}/preview.png"}

    def preview_path(self, photo_id: str) -> Path:
        if photo_id not in self.photos:
            raise KeyError(photo_id)
        return self.photos[photo_id].parent / "preview.png"

    # ---- jobs --------------------------------------------------------------------------------
    def submit(self, request: dict[str, Any]) -> Job:
        """Validate a request (photo, model, explainer, target, options) and queue it."""
        from ..targets import parse_target

        if request.get("photo") not in self.photos:
            raise JobError("upload a photo first (unknown photo id)")
        for key in ("model", "explainer"):
            if not request.get(key):
                raise JobError(f"choose a {key}")
        request = dict(request)
        request["target"] = str(parse_target(request.get("target") or "predicted"))
        for key in ("model_options", "explainer_options", "segmenter_options"):
            request[key] = _options(request.get(key), key)
        job = Job(uuid.uuid4().hex[:12], request)
        self.jobs[job.id] = job
        self._pool.submit(self._run, job)
        return job

    def result_file(self, job_id: str, name: str) -> Path:
        """A file of a finished job, by plain name only (no path traversal)."""
        folder = self.workdir / "jobs" / job_id
        if job_id not in self.jobs or "/" in name or "\\" in name or name.startswith("."):
            raise KeyError(name)
        path = folder / name
        if not path.is_file():
            raise KeyError(name)
        return path

    def _component(self, kind: str, name: str, options: dict[str, Any]):
        from .. import plugins
        from ..options import OptionError

        key = json.dumps([kind, name, options], sort_keys=True, default=str)
        with self._lock:
            if key not in self._components:
                build = {"model": plugins.load_model, "explainer": plugins.load_explainer,
                         "segmenter": plugins.load_segmenter}[kind]
                try:
                    self._components[key] = build(name, **options)
                except OptionError as exc:  # unknown name or wrong type: the message lists the options
                    raise JobError(str(exc)) from None
                except TypeError as exc:
                    raise JobError(f"{kind} {name!r} does not accept these options ({exc})") from None
            return self._components[key]

    def _stage(self, job: Job, stage: str) -> None:
        job.stage = stage
        job.progress = STAGES.index(stage) / len(STAGES)

    def _run(self, job: Job) -> None:
        from ..plugins import PluginConflictError, UnknownPluginError
        from ..weights import ChecksumError, WeightsUnavailableError

        job.state, job.started = "running", time.time()
        try:
            job.result = self._compute(job)
            job.state, job.progress, job.stage = "done", 1.0, "done"
        except (JobError, UnknownPluginError, PluginConflictError, WeightsUnavailableError, ChecksumError,
                FileNotFoundError, ValueError, KeyError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            job.state, job.error = "error", str(message).splitlines()[0] if str(message) else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, not swallowed silently
            traceback.print_exc()
            job.state, job.error = "error", f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            job.finished = time.time()

    def _compute(self, job: Job) -> dict[str, Any]:
        from ..io.explanations import write_explanation
        from ..io.images import load_image
        from ..pipeline import explain_batch, resolved_options
        from ..targets import parse_target

        req = job.request
        self._stage(job, "loading model")
        model = self._component("model", req["model"], req["model_options"])
        explainer = self._component("explainer", req["explainer"], {})
        segmenter = (self._component("segmenter", req["segmenter"], req["segmenter_options"])
                     if req.get("segmenter") else None)
        self._stage(job, "reading photo")
        path = self.photos[req["photo"]]
        image = load_image(path)
        self._stage(job, "explaining")
        target = parse_target(req["target"])
        options = dict(req["explainer_options"])
        stem = path.stem
        provenance = {"model": req["model"], "explainer": req["explainer"], "segmenter": req.get("segmenter"),
                      "options": resolved_options(explainer, options)}
        (explanation,) = explain_batch(model, explainer, [image], target, segmenter, options=options, ids=[stem],
                                       paths=[path], top_k=25, provenance=provenance)
        out = self.workdir / "jobs" / job.id
        out.mkdir(parents=True)
        self._stage(job, "writing files")
        doc = write_explanation(out, explanation, stem)  # the document written, not read back
        files = {"json": f"{stem}.json", "npy": f"{stem}.npy", "overlay": f"{stem}_overlay.png",
                 **doc.get("files", {})}
        return {"doc": doc, "cells": _projected_cells(doc["prediction"]),
                "files": {kind: f"/api/results/{job.id}/{name}" for kind, name in files.items()}}


def _options(value: Any, what: str) -> dict[str, Any]:
    """Options as a dict, or 'key=value, key=value' text (values read as JSON where they parse)."""
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for pair in re.split(r"[,\n]\s*(?=[A-Za-z_][\w-]*\s*=)", str(value)):
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise JobError(f"{what}: {pair.strip()!r} is not key=value")
        try:
            out[key.strip().replace("-", "_")] = json.loads(text.strip())
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = text.strip()
    return out


def _projected_cells(prediction: dict[str, Any]) -> list[dict[str, Any]]:
    """The top cells with their position on the app's Equal Earth map (SVG units)."""
    from ..viz.projection import equal_earth
    from .geometry import SCALE

    cells = []
    for cell in prediction.get("top_k", []):
        x, y = equal_earth(cell["lon"], cell["lat"])
        cells.append({**cell, "x": round(float(x) * SCALE, 2), "y": round(-float(y) * SCALE, 2)})
    return cells
