"""The ``vlm`` model: a vision-language model behind an OpenAI-compatible chat-completions endpoint.

vLLM, llama.cpp's server, Ollama and hosted APIs all serve ``POST {url}/chat/completions``. Each
view (resized and centre-cropped to ``max_side`` pixels, sent as a lossless PNG data URL) goes in
one user message with ``prompt``; the answer's coordinates are read by
``geoxai.coordinates.parse_coordinates``. An answer without coordinates becomes a failed
``GeoAnswer`` (the caller names the image); a refused key, a 4xx other than 429, or a server that
keeps failing after ``retries`` is a one-line ``GeolocatorError`` that never contains the key.

Requests run on up to ``concurrency`` threads; 429 and 5xx answers and timeouts are retried with
exponential backoff (``Retry-After`` honoured, capped at a minute); Ctrl-C stops waiting at once.
Answers are cached in geoxai's cache folder (``$GEOXAI_HOME/vlm``), keyed by the endpoint, the
model, the prompt, the generation parameters and the exact image bytes sent, so a rerun costs no
calls; ``cache=false`` turns it off. The key is read from the environment variable NAMED by
``api_key_env`` and is never an option, logged, cached or written.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any

import numpy as np

from ..blackbox import GeoAnswer, Geolocator, GeolocatorError
from ..coordinates import parse_coordinates
from ..messages import squeezed
from ..types import ImageBatch
from ..views import ViewConfig

DEFAULT_PROMPT = ("Where was this photo taken? Answer with your best estimate of the latitude and longitude in "
                  "decimal degrees as JSON: {\"latitude\": <number>, \"longitude\": <number>}.")
MAX_RETRY_AFTER_S = 60.0
TRANSIENT = (429, 500, 502, 503, 504)


class VLMGeolocator(Geolocator):
    """A chat-completions VLM as a ``Geolocator`` (see the module doc for the options)."""

    name = "vlm"

    def __init__(self, url: str = "", model: str = "", api_key_env: str | None = None, prompt: str = DEFAULT_PROMPT,
                 max_side: int = 448, temperature: float = 0.0, max_tokens: int = 200, timeout: float = 60.0,
                 concurrency: int = 4, retries: int = 4, cache: bool = True, logprobs: bool = False) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"model 'vlm' needs url=http(s)://HOST[:PORT]/v1 (the server's base URL), got {url!r}")
        if not model:
            raise ValueError("model 'vlm' needs model=NAME (the served model's name, e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
        if max_side < 16 or timeout <= 0 or concurrency < 1 or retries < 0 or max_tokens < 1:
            raise ValueError(f"model 'vlm': need max_side >= 16, timeout > 0, concurrency >= 1, retries >= 0 and "
                             f"max_tokens >= 1, got max_side={max_side}, timeout={timeout}, "
                             f"concurrency={concurrency}, retries={retries}, max_tokens={max_tokens}")
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model, self.prompt, self.api_key_env = model, prompt, api_key_env
        self.temperature, self.max_tokens, self.timeout = float(temperature), int(max_tokens), float(timeout)
        self.concurrency, self.retries, self.cache, self.logprobs = int(concurrency), int(retries), cache, logprobs
        self.view_config = self.view_config_for(max_side=max_side)
        if api_key_env and not os.environ.get(api_key_env):
            raise ValueError(f"model 'vlm': the environment variable {api_key_env} (api_key_env) is not set")

    @classmethod
    def view_config_for(cls, max_side: int = 448, **_: Any) -> ViewConfig:
        return ViewConfig(input_size=int(max_side), resize_size=int(max_side))

    # ---- the batch ------------------------------------------------------------------------
    def locate(self, images: ImageBatch) -> list[GeoAnswer]:
        pixels = images.pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        answers: list[GeoAnswer | None] = [None] * len(pixels)
        errors: list[BaseException] = []
        stop = threading.Event()
        cursor = iter(range(len(pixels)))
        lock = threading.Lock()

        def work() -> None:
            while not stop.is_set():
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                try:
                    answers[i] = self.ask(pixels[i], stop)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    errors.append(exc)
                    stop.set()

        # daemon threads: an interrupted run never waits for a request in flight to time out
        threads = [threading.Thread(target=work, daemon=True) for _ in range(min(self.concurrency, len(pixels)))]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)
        except KeyboardInterrupt:
            stop.set()
            raise
        if errors:
            raise errors[0]
        return [a for a in answers if a is not None]

    # ---- one image ------------------------------------------------------------------------
    def ask(self, image: np.ndarray, stop: threading.Event) -> GeoAnswer:
        """The answer for one view (uint8 [H, W, 3]), from the cache or the server."""
        png = encode_png(image)
        key = self.cache_key(png)
        cached = read_cache(key) if self.cache else None
        if cached is not None:
            return self.answer(cached, cached=True, latency=0.0, attempts=0)
        started = time.monotonic()
        response, attempts = self.post(self.body(png), stop)
        latency = time.monotonic() - started
        if self.cache:
            write_cache(key, response)
        return self.answer(response, cached=False, latency=latency, attempts=attempts)

    def body(self, png: bytes) -> dict[str, Any]:
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        body: dict[str, Any] = {
            "model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": [{"type": "text", "text": self.prompt},
                                                      {"type": "image_url", "image_url": {"url": url}}]}],
        }
        if self.logprobs:
            body.update(logprobs=True, top_logprobs=5)
        return body

    def cache_key(self, png: bytes) -> str:
        identity = {"endpoint": self.endpoint, "model": self.model, "prompt": self.prompt,
                    "temperature": self.temperature, "max_tokens": self.max_tokens, "logprobs": self.logprobs,
                    "image_sha256": hashlib.sha256(png).hexdigest()}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def answer(self, response: dict[str, Any], cached: bool, latency: float, attempts: int) -> GeoAnswer:
        choice = (response.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = response.get("usage") or {}
        meta: dict[str, Any] = {"cached": cached, "latency_s": round(latency, 4), "attempts": attempts,
                                "prompt_tokens": usage.get("prompt_tokens"),
                                "completion_tokens": usage.get("completion_tokens")}
        tokens = answer_tokens(choice)
        if tokens is not None:
            meta["tokens"] = tokens
        found = parse_coordinates(text)
        if found is None:
            return GeoAnswer.failed(text, "the answer holds no coordinates", **meta)
        return GeoAnswer(found[0], found[1], None, text, meta)

    def post(self, body: dict[str, Any], stop: threading.Event) -> tuple[dict[str, Any], int]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        where = f"model 'vlm' ({self.endpoint})"
        for attempt in range(self.retries + 1):
            if stop.is_set():
                raise GeolocatorError(f"{where}: stopped")
            delay = min(MAX_RETRY_AFTER_S, 0.5 * 2 ** attempt)
            try:
                request = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    return json.loads(reply.read().decode("utf-8")), attempt + 1
            except urllib.error.HTTPError as exc:
                detail = scrub(exc.read(300).decode("utf-8", "replace"), key)
                if exc.code in (401, 403):
                    raise GeolocatorError(f"{where}: the server refused the key from ${self.api_key_env} "
                                          f"(HTTP {exc.code})" if self.api_key_env else
                                          f"{where}: the server wants a key (HTTP {exc.code}); set "
                                          "api_key_env=NAME_OF_AN_ENVIRONMENT_VARIABLE") from None
                if exc.code not in TRANSIENT:
                    raise GeolocatorError(f"{where}: HTTP {exc.code}: {squeezed(detail, 200)}") from None
                failure = f"HTTP {exc.code}"
                delay = retry_after(exc.headers.get("Retry-After"), delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                failure = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else \
                    f"unreachable ({squeezed(scrub(str(reason), key), 200)})"
            except ValueError:
                raise GeolocatorError(f"{where}: the reply is not JSON") from None
            if attempt < self.retries and stop.wait(delay):
                raise GeolocatorError(f"{where}: stopped")
        raise GeolocatorError(f"{where}: {failure} after {self.retries + 1} tries (timeout {self.timeout:g} s)")


def encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def answer_tokens(choice: dict[str, Any]) -> list[list[Any]] | None:
    """[[token, logprob, {alternative: logprob}], ...] of a choice with ``logprobs``, else None."""
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    return [[t.get("token", ""), float(t.get("logprob", -100.0)),
             {a.get("token", ""): float(a.get("logprob", -100.0)) for a in t.get("top_logprobs") or []}]
            for t in content]


def retry_after(header: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped at a minute."""
    if not header:
        return default
    try:
        seconds = float(header)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError):
            return default
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def scrub(text: str, key: str) -> str:
    """``text`` without the key (servers echo a wrong key back)."""
    return text.replace(key, "***") if key else text


# ---- the response cache -----------------------------------------------------------------------
def cache_path(key: str):
    from ..cache import geoxai_home

    return geoxai_home() / "vlm" / key[:2] / f"{key}.json"


def read_cache(key: str) -> dict[str, Any] | None:
    try:
        value = json.loads(cache_path(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing or damaged: asked again
        return None
    return value if isinstance(value, dict) else None


def write_cache(key: str, response: dict[str, Any]) -> None:
    from ..io.atomic import write_text_atomic

    kept = {k: response[k] for k in ("choices", "usage", "model") if k in response}
    try:
        path = cache_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(kept))
    except OSError:  # a read-only cache costs calls next time, not this run
        pass
