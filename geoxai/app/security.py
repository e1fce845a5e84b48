"""What keeps other web pages out of the explorer: an ASGI middleware in front of every route.

A page on any other site can make the user's browser send requests to ``127.0.0.1``; with DNS
rebinding it can even read the answers (its own host name resolves to ``127.0.0.1``). So:

- the ``Host`` header must name this app (the bound address, ``localhost``, ``127.0.0.1``, ``[::1]``
  or an ``--allow-host``), else 421 — a rebound name never gets an answer;
- a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or, without one, ``Referer``)
  is another origin is refused with 403 (cross-site request forgery); a request with neither header
  is not from a web page's script or form (browsers send ``Origin`` on every cross-origin POST) and
  goes on;
- request bodies are bounded: ``Content-Length`` beyond the route's limit is refused with 413
  before anything is read, and a body that streams past the limit is cut off with 413;
- every response carries a Content-Security-Policy (only this origin; no framing), ``nosniff``,
  ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def host_name(value: str) -> str:
    """``"[::1]:8000"`` -> ``"::1"``, ``"Example.org:80"`` -> ``"example.org"`` (no port, lower case)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") > 1:  # a bare IPv6 address
        return value
    return value.partition(":")[0]


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names the app answers to: the bound address, the loopback names and ``extra``."""
    names = {host_name(h) for h in (*LOCAL_HOSTS, *extra) if h}
    if bound and bound not in ("0.0.0.0", "::"):  # a wildcard is not a name a browser uses
        names.add(host_name(f"[{bound}]" if ":" in bound else bound))
    return frozenset(names)


class BodyTooLarge(Exception):
    pass


class Guard:
    """The middleware (see the module doc). ``body_limit(path)`` is the largest body a route takes."""

    def __init__(self, app: Any, hosts: frozenset[str], body_limit: Callable[[str], int]) -> None:
        self.app = app
        self.hosts = hosts
        self.body_limit = body_limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name for name, _ in SECURITY_HEADERS}
                message = {**message, "headers": [*(h for h in message.get("headers", []) if h[0] not in names),
                                                  *SECURITY_HEADERS]}
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _json(send_with_headers, *refusal)
            return
        limit = self.body_limit(scope["path"])
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _json(send_with_headers, 413, f"request body too large ({int(length)} bytes; the limit is {limit})")
            return
        seen = 0

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, bounded_receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await _json(send_with_headers, 413, f"request body too large (the limit is {limit} bytes)")

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            return 421, (f"this app does not answer to host {host!r} (start it with --allow-host NAME to allow it)")
        if scope["method"] not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is None and "referer" in headers:
            origin = headers["referer"]
        if origin is None:
            return None
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            return 403, f"cross-origin request refused (origin {origin[:100]!r} is not this app)"
        return None


async def _json(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
