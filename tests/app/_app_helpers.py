"""Shared by the app tests: a photo as PNG bytes, waiting for a job, and starting ``geoxai app``
in a child process and reading the address it prints."""
from __future__ import annotations

import io
import queue
import subprocess
import threading
import time

import pytest


def png_bytes(photo) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    return buf.getvalue()


def wait_for_job(client, job, timeout=120):
    """The job's status once it is done or failed (polling the app's API)."""
    end = time.time() + timeout
    while time.time() < end:
        status = client.get(f"/api/jobs/{job}").json()
        if status["state"] in ("done", "error"):
            return status
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def start_app(command: list[str], env: dict[str, str], timeout: float = 120
              ) -> tuple[subprocess.Popen, str, list[str]]:
    """Start ``command`` (which runs ``geoxai app``); returns the process, the address it prints and
    the list its output lines keep being appended to."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    output: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"geoxai app printed no address within {timeout:.0f} s")
        if "serving on " in line:
            return proc, line.split("serving on ", 1)[1].split()[0], output
