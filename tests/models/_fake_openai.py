"""A fake OpenAI-compatible chat-completions server for the tests (threaded, on 127.0.0.1).

It decodes the PNG data URL it receives and answers a wording of a location derived from the
image: (the mean red of the top half) / 10 degrees east of Paris, so that hiding the top half moves
the answer. ``script`` holds replies served first (status, headers, body), ``hold`` stalls every
request until set (timeouts), ``key`` is the only accepted bearer token (None: any).
"""
from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


def paris_east(image: np.ndarray) -> tuple[float, float]:
    red = float(image[: image.shape[0] // 2, :, 0].mean())
    return 48.85, round(2.35 + red / 10, 4)


class FakeServer:
    def __init__(self, wording: Callable[[float, float], str] = lambda lat, lon: f"({lat}, {lon})") -> None:
        self.wording = wording
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.key: str | None = None
        self.hold: threading.Event | None = None
        self.requests: list[dict] = []
        self.logprobs = False
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"time": time.monotonic(), "path": self.path, "body": body,
                                            "auth": self.headers.get("Authorization")})
                    scripted = server.script.pop(0) if server.script else None
                if server.hold is not None:
                    server.hold.wait(10)
                if scripted is not None:
                    return self.reply(*scripted)
                auth = self.headers.get("Authorization") or ""
                if server.key is not None and auth != f"Bearer {server.key}":
                    given = auth.removeprefix("Bearer ")
                    echo = {"error": {"message": f"Incorrect API key provided: {given}"}}  # as OpenAI does
                    return self.reply(401, {}, json.dumps(echo))
                content = body["messages"][0]["content"]
                url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
                image = np.array(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
                text = server.wording(*paris_east(image))
                choice: dict = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": [
                        {"token": t, "logprob": -0.1, "top_logprobs": [{"token": t, "logprob": -0.1}]}
                        for t in text.split(" ")]}
                reply = {"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 12}}
                return self.reply(200, {}, json.dumps(reply))

            def reply(self, status, headers, text):
                data = text.encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def lose_first_answer(self) -> None:
        """The first request gets an answer without coordinates, every later one a location."""
        asked = []

        def first_answer_lost(lat: float, lon: float) -> str:
            asked.append(lon)
            return "no idea" if len(asked) == 1 else f"{lat}, {lon}"

        self.wording = first_answer_lost

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()
