"""The explorer's web server: a small Starlette app (JSON API + the static page) run by uvicorn.

Everything the page loads comes from this server: ``static/`` (HTML, JS, CSS written for geoxai,
no framework, no CDN) and the API below. Nothing here contacts another host. Every request passes
:class:`~geoxai.app.security.Guard` first (host allowlist, same-origin writes, bounded bodies,
security headers); docs/security.md lists the protections and limits.

    GET  /                         the page
    GET  /api/plugins              models, explainers (with their default options), segmenters: whether
                                   each loads here (and why not), the defaults to start on
    GET  /api/countries            the world map: one SVG path per country (Equal Earth)
    POST /api/photos               upload a photo (multipart field ``photo``) -> its id
    GET  /api/photos/{id}/preview.png
    POST /api/jobs                 {photo, model, explainer, target, segmenter, *_options} -> job id
    GET  /api/jobs/{id}            state, stage, progress and, when done, the result
    GET  /api/results/{id}/{file}  the job's JSON, .npy, overlay and figure (downloads)
"""
from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .engine import Explorer, JobError
from .errors import one_line
from .limits import RequestRefused
from .security import BodyTooLarge, Guard, allowed_hosts
from .storage import DEFAULT_MAX_UPLOAD

STATIC = Path(__file__).parent / "static"
MAX_JSON_BODY = 64 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the photo
NO_CACHE = {"Cache-Control": "no-store"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "local"


def create_app(explorer: Explorer | None = None, *, host: str = "127.0.0.1", allow_hosts: tuple[str, ...] = (),
               max_upload: int = DEFAULT_MAX_UPLOAD) -> Any:
    """The explorer as an ASGI app: the Starlette routes behind :class:`~geoxai.app.security.Guard`.
    ``host`` is the bound address, ``allow_hosts`` more host names it answers to, ``max_upload``
    the largest photo in bytes."""
    explorer = explorer or Explorer()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_CACHE)

    async def plugins(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        return JSONResponse(await run_in_threadpool(explorer.catalog.table), headers=NO_CACHE)

    async def countries(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from .geometry import country_svg

        return JSONResponse(await run_in_threadpool(country_svg))

    async def upload(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return _error("upload the photo as multipart/form-data (field 'photo')", 415)
        try:  # the Guard has bounded the body; files beyond 1 MB are spooled to disk, not held in memory
            form = await request.form(max_files=1, max_fields=4)
        except BodyTooLarge:
            raise  # answered with 413 by too_large below
        except Exception as exc:  # noqa: BLE001 - a malformed upload is the client's problem
            return _error(f"could not read the upload ({exc})")
        photo = form.get("photo")
        if photo is None or isinstance(photo, str):
            return _error("no photo in the upload (field 'photo')")
        name = photo.filename or "the photo"
        if photo.size is not None and photo.size > max_upload:
            return _error(f"{name}: {photo.size} bytes is over the app's upload limit of {max_upload}", 413)
        data = await photo.read(max_upload + 1)
        if len(data) > max_upload:
            return _error(f"{name}: over the app's upload limit of {max_upload} bytes", 413)
        if not data:
            return _error(f"{name}: empty file")
        try:
            info = await run_in_threadpool(explorer.add_photo, photo.filename or "photo", data, _client(request))
        except RequestRefused as exc:
            return _error(str(exc), exc.status)
        except JobError as exc:
            return _error(str(exc))
        return JSONResponse(info)

    async def preview(request: Request) -> Response:
        try:
            return FileResponse(explorer.preview_path(request.path_params["photo"]))
        except KeyError:
            return _error("unknown or expired photo", 404)

    async def submit(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error("send the job as JSON (Content-Type: application/json)", 415)
        try:
            body = await request.json()
        except ValueError:
            return _error("the request body must be JSON")
        if not isinstance(body, dict):
            return _error("the request body must be a JSON object")
        try:
            job = explorer.submit(body, _client(request))
        except RequestRefused as exc:
            return _error(str(exc), exc.status)
        except (JobError, ValueError) as exc:
            return _error(str(exc))
        return JSONResponse({"job": job.id}, status_code=202)

    async def status(request: Request) -> Response:
        job = explorer.jobs.get(request.path_params["job"])
        if job is None:
            return _error("unknown or expired job", 404)
        return JSONResponse(job.status(), headers=NO_CACHE)

    async def result(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            path = explorer.result_file(request.path_params["job"], name)
        except KeyError:
            return _error("no such result file", 404)
        download = path.suffix in (".json", ".npy")
        return FileResponse(path, filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    routes = [
        Route("/", index),
        Route("/api/plugins", plugins),
        Route("/api/countries", countries),
        Route("/api/photos", upload, methods=["POST"]),
        Route("/api/photos/{photo}/preview.png", preview),
        Route("/api/jobs", submit, methods=["POST"]),
        Route("/api/jobs/{job}", status),
        Route("/api/results/{job}/{name}", result),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        explorer.close()

    def body_limit(path: str) -> int:
        return max_upload + MULTIPART_OVERHEAD if path == "/api/photos" else MAX_JSON_BODY

    async def too_large(request: Request, exc: Exception) -> Response:
        return _error(f"request body too large (the limit is {body_limit(request.url.path)} bytes)", 413)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={BodyTooLarge: too_large})
    app.state.explorer = explorer

    return Guard(app, allowed_hosts(host, allow_hosts), body_limit)


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free port (read it back from ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(sock: socket.socket, explorer: Explorer | None = None, log_level: str = "warning", **options: Any) -> None:
    """Serve the app on an already bound socket until interrupted (Ctrl+C); ``options`` go to
    :func:`create_app` (``host``, ``allow_hosts``, ``max_upload``)."""
    import uvicorn

    config = uvicorn.Config(create_app(explorer, **options), log_level=log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])
