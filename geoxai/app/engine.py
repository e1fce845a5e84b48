"""What the explorer computes, without any web code: photos, jobs and their results.

A job explains one uploaded photo with a model, explainer, target and (optionally) a segmenter,
through the same functions as ``geoxai explain`` (so its JSON, ``.npy`` and overlay are the
files the CLI writes), one job at a time on a daemon worker thread. Its stage and progress can be read
while it runs; models, explainers and segmenters are built once per set of options and reused.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .errors import one_line
from .limits import RequestRefused, check_plugin_name, check_web_options
from .storage import DEFAULT_MAX_STORAGE, DEFAULT_TTL_S, PhotoStore

STAGES = ("loading model", "reading photo", "explaining", "concept influence", "writing files")
REQUEST_FIELDS = ("photo", "model", "explainer", "segmenter", "target", "model_options", "explainer_options",
                  "segmenter_options")
MAX_QUEUED = 8  # jobs waiting at once (all clients)


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
    client: str = "local"

    def status(self) -> dict[str, Any]:
        end = self.finished or time.time()
        return {"job": self.id, "state": self.state, "stage": self.stage, "progress": round(self.progress, 3),
                "elapsed_s": round(end - self.started, 2), "error": self.error, "result": self.result,
                "request": self.request}


class Cancelled(Exception):
    """The app is stopping: the job ends at its next stage and writes nothing."""


class Explorer:
    """Photos and jobs of one app session, kept under ``workdir`` (a temporary folder by default).

    Jobs run one at a time on a daemon thread (so an interpreter that is exiting never waits for
    one); when no job waits, the same thread checks which plugins load (:class:`Catalog`).
    :meth:`close` stops taking jobs, lets the running one end at its next stage (or abandons it),
    and removes the temporary folder once no job can write into it.
    """

    def __init__(self, workdir: str | Path | None = None, *, catalog: Catalog | None = None,
                 max_storage: int = DEFAULT_MAX_STORAGE, ttl_s: float = DEFAULT_TTL_S,
                 max_queued: int = MAX_QUEUED, clock: Callable[[], float] = time.time, probe: bool = True) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="geoxai-app-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.catalog = catalog or Catalog()
        self.store = PhotoStore(self.workdir / "photos", max_storage, ttl_s, clock)
        self.jobs: dict[str, Job] = {}
        self.max_queued = max_queued
        self._components: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # held while a job writes files; close() waits for it
        self._closed = threading.Event()
        self._queue: deque[Job] = deque()
        self._wake = threading.Condition()
        self._probe_pending = probe
        self._worker = threading.Thread(target=self._work, name="geoxai-app-worker", daemon=True)
        self._worker.start()

    def close(self, timeout: float = 0.3) -> None:
        """Stop: queued jobs are cancelled, the running one stops at its next stage or is abandoned
        (its daemon thread dies with the process); the temporary work folder is removed when no
        job can write into it any more. A second call does nothing."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._wake:
            for job in self._queue:
                job.state, job.error = "error", "cancelled: the app is stopping"
            self._queue.clear()
            self._wake.notify_all()
        self._worker.join(timeout)
        if self._write_lock.acquire(timeout=2 * timeout):  # a job in the middle of writing finishes first
            self._write_lock.release()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _work(self) -> None:
        while not self._closed.is_set():
            with self._wake:
                while not self._queue and not self._probe_pending and not self._closed.is_set():
                    self._wake.wait()
                if self._closed.is_set():
                    return
                job = self._queue.popleft() if self._queue else None
            if job is not None:
                self._run(job)
            else:
                self._probe_pending = False
                self.catalog.probe(self._probe_build, stop=self._closed.is_set)

    def _probe_build(self, kind: str, name: str, options: dict[str, Any]) -> None:
        from ..plugins import registry

        specs = registry().get(kind, name).options() or {}
        missing = [n for n, spec in specs.items() if spec.required and n not in options]
        if missing:
            where = (f"start the app with -m {name} --model-option {missing[0]}=..." if kind == "model"
                     else "the page cannot set it")
            raise JobError(f"{kind} {name!r} needs option {', '.join(missing)} ({where})")
        if "local_files_only" in specs:
            options = {**options, "local_files_only": True}
        default = name == self.catalog.default(kind) and not options.get("local_files_only")
        if default:  # kept: the first job uses it
            self._component(kind, name, options)
        else:
            self._build(kind, name, options)

    # ---- photos ------------------------------------------------------------------------------
    def add_photo(self, filename: str, data: bytes, client: str = "local") -> dict[str, Any]:
        """Store an uploaded photo; an unreadable one raises JobError naming the file."""
        from PIL import Image

        from ..io.images import ImageError, load_image

        photo_id, path = self.store.new_folder(filename)
        path.write_bytes(data)
        try:
            image = load_image(path)
        except ImageError as exc:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise JobError(str(exc).replace(str(path), filename or "the photo")) from None
        preview = Image.fromarray(image)
        preview.thumbnail((640, 640))
        preview.save(path.parent / "preview.png")
        self.store.admit(photo_id, path, client, self._photos_in_use())
        self._forget_expired_jobs()
        return {"photo": photo_id, "name": filename, "width": int(image.shape[1]), "height": int(image.shape[0]),
                "preview": f"/api/photos/{photo_id}/preview.png"}

    def preview_path(self, photo_id: str) -> Path:
        return self.store.get(photo_id).path.parent / "preview.png"  # KeyError: unknown or expired

    def _photos_in_use(self) -> set[str]:
        return {job.request["photo"] for job in list(self.jobs.values()) if job.state in ("queued", "running")}

    def _forget_expired_jobs(self) -> None:
        for job in list(self.jobs.values()):
            if job.request["photo"] not in self.store.photos and job.state in ("done", "error"):
                self.jobs.pop(job.id, None)
                shutil.rmtree(self.workdir / "jobs" / job.id, ignore_errors=True)

    # ---- jobs --------------------------------------------------------------------------------
    def submit(self, request: dict[str, Any], client: str = "local") -> Job:
        """Validate a request (photo, model, explainer, target, options) and queue it; a request the
        app will not run raises JobError or RequestRefused (one line naming the field)."""
        from ..targets import parse_target

        if self._closed.is_set():
            raise JobError("the app is stopping")
        self.store.expire(self._photos_in_use())
        self._forget_expired_jobs()
        try:
            self.store.get(str(request.get("photo")))
        except KeyError:
            raise JobError("upload a photo first (unknown or expired photo id)") from None
        for key in ("model", "explainer"):
            if not request.get(key) or not isinstance(request[key], str):
                raise JobError(f"choose a {key}")
        if request.get("segmenter") is not None and not isinstance(request["segmenter"], str):
            raise JobError("segmenter must be a name")
        for key in ("model", "explainer", "segmenter"):
            if request.get(key):
                check_plugin_name(key, request[key])  # before any look-up: nothing is imported or registered
        request = {key: request.get(key) for key in REQUEST_FIELDS}
        request["target"] = str(parse_target(str(request.get("target") or "predicted")))
        for kind in ("model", "explainer", "segmenter"):
            key = f"{kind}_options"
            name = request.get(kind)
            if isinstance(name, str) and name:
                request[key] = self._web_options(kind, name, request.get(key))
            elif request.get(key) not in (None, "", {}):
                raise JobError(f"{key} given without a {kind}")
            else:
                request[key] = {}
        with self._wake:
            if len(self._queue) >= self.max_queued:
                raise RequestRefused(f"{len(self._queue)} jobs are already waiting (the app's limit is "
                                     f"{self.max_queued}); wait for them to finish", 429)
            job = Job(uuid.uuid4().hex[:12], request, client=client)
            self.jobs[job.id] = job
            self._queue.append(job)
            self._wake.notify_all()
        return job

    def _web_options(self, kind: str, name: str, value: Any) -> dict[str, Any]:
        """The page's options for plugin ``name``, typed by ``geoxai.options`` and checked by the app's rules."""
        from ..options import OptionError
        from ..plugins import registry

        reg = registry().get(kind, name)  # UnknownPluginError: a one-line ValueError
        specs = reg.options()
        try:
            options = reg.parse_options(value)  # a dict, or the page's "k=v, k=v" text
        except OptionError as exc:
            raise JobError(str(exc)) from None
        check_web_options(reg.label, options, specs)
        return options

    def result_file(self, job_id: str, name: str) -> Path:
        """A file of a finished job, by plain name only (no path traversal)."""
        folder = self.workdir / "jobs" / job_id
        if job_id not in self.jobs or "/" in name or "\\" in name or name.startswith("."):
            raise KeyError(name)
        path = folder / name
        if not path.is_file():
            raise KeyError(name)
        return path

    def _build(self, kind: str, name: str, options: dict[str, Any]):
        from .. import plugins
        from ..options import OptionError

        build = {"model": plugins.load_model, "explainer": plugins.load_explainer,
                 "segmenter": plugins.load_segmenter}[kind]
        try:
            return build(name, **options)
        except OptionError as exc:  # unknown name or wrong type: the message lists the options
            raise JobError(str(exc)) from None
        except TypeError as exc:
            raise JobError(f"{kind} {name!r} does not accept these options ({exc})") from None

    def _component(self, kind: str, name: str, options: dict[str, Any]):
        options = {**options, **self.catalog.options_for(kind, name)}  # the server's own options win
        key = json.dumps([kind, name, options], sort_keys=True, default=str)
        with self._lock:
            if key not in self._components:
                self._components[key] = self._build(kind, name, options)
            return self._components[key]

    def _stage(self, job: Job, stage: str) -> None:
        if self._closed.is_set():
            raise Cancelled
        job.stage = stage
        job.progress = STAGES.index(stage) / len(STAGES)

    def _run(self, job: Job) -> None:
        from ..plugins import PluginConflictError, UnknownPluginError
        from ..weights import ChecksumError, WeightsUnavailableError

        job.state, job.started = "running", time.time()
        try:
            job.result = self._compute(job)
            job.state, job.progress, job.stage = "done", 1.0, "done"
        except Cancelled:
            job.state, job.error = "error", "cancelled: the app is stopping"
        except (JobError, UnknownPluginError, PluginConflictError, WeightsUnavailableError, ChecksumError,
                FileNotFoundError, ValueError, KeyError) as exc:
            job.state, job.error = "error", one_line(exc)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, not swallowed silently
            traceback.print_exc()
            job.state, job.error = "error", one_line(f"{type(exc).__name__}: {exc}")
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
        path = self.store.get(req["photo"]).path
        image = load_image(path)
        self._stage(job, "explaining")
        target = parse_target(req["target"])
        options = dict(req["explainer_options"])
        stem = path.stem
        provenance = {"model": req["model"], "explainer": req["explainer"], "segmenter": req.get("segmenter"),
                      "options": resolved_options(explainer, options)}
        # the photo's own name, not its server path, goes into the JSON the page downloads
        (explanation,) = explain_batch(model, explainer, [image], target, segmenter, options=options, ids=[stem],
                                       paths=[Path(path.name)], top_k=25, provenance=provenance)
        out = self.workdir / "jobs" / job.id
        with self._write_lock:  # close() never removes the folder while this writes, nor after it
            self._stage(job, "writing files")
            out.mkdir(parents=True)
            doc = write_explanation(out, explanation, stem)  # the document written, not read back
        files = {"json": f"{stem}.json", "npy": f"{stem}.npy", "overlay": f"{stem}_overlay.png",
                 **doc.get("files", {})}
        self.store.photos[req["photo"]].extra_bytes += sum(f.stat().st_size for f in out.iterdir() if f.is_file())
        return {"doc": doc, "cells": _projected_cells(doc["prediction"]),
                "files": {kind: f"/api/results/{job.id}/{name}" for kind, name in files.items()}}




def _projected_cells(prediction: dict[str, Any]) -> list[dict[str, Any]]:
    """The top cells with their position on the app's Equal Earth map (SVG units)."""
    from ..viz.projection import equal_earth
    from .geometry import SCALE

    cells = []
    for cell in prediction.get("top_k", []):
        x, y = equal_earth(cell["lon"], cell["lat"])
        cells.append({**cell, "x": round(float(x) * SCALE, 2), "y": round(-float(y) * SCALE, 2)})
    return cells
