"""The explorer as a user runs it: ``geoxai app`` in a child process serving on 127.0.0.1 (uvicorn).
A rebound host name gets no answer, an upload streaming past the limit is cut off with 413 before
it ends, and Ctrl-C with a job held inside the explainer stops the app within 2 s and leaves no
work folder behind."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _app_helpers import start_app  # noqa: E402

httpx = pytest.importorskip("httpx", reason="the HTTP client of the app's tests (a dev dependency)")
HELD_APP = Path(__file__).with_name("_held_app.py")


@pytest.fixture
def held_app(tmp_path):
    """``geoxai app --max-upload 1`` with its temporary work folder under ``tmp_path/tmp``."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    marker = tmp_path / "explaining"
    env = {**os.environ, "GEOXAI_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    proc, url, output = start_app([sys.executable, str(HELD_APP), str(marker), "--port", "0", "--max-upload", "1"],
                                  env)
    try:
        yield proc, url, marker, temp, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _raw_request(url: str, head: bytes, body_chunks, read_timeout: float = 60) -> bytes:
    """Send ``head`` and then as many ``body_chunks`` as the server takes; return its answer."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed while we were still sending
            pass
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_real_server_refuses_rebinding_and_cuts_long_uploads(held_app):
    proc, url, *_ = held_app
    host = url.split("//", 1)[1].rstrip("/")
    rebound = _raw_request(url, b"GET /api/plugins HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n", [])
    assert rebound.startswith(b"HTTP/1.1 421"), rebound[:200]
    assert b"nosniff" in rebound.lower()
    head = (f"POST /api/photos HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    preamble = b'--x\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n\r\n'
    block = b"\0" * 65536
    # 1.125 MiB of a body that never ends is sent: past the 1 MB limit (+ 64 KiB for the form's
    # framing), the server answers without waiting for more
    chunks = [b"%x\r\n%s\r\n" % (len(preamble), preamble)] + [b"%x\r\n%s\r\n" % (len(block), block)] * 18
    answer = _raw_request(url, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    declared = (f"POST /api/photos HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {100 * 2 ** 20}\r\n\r\n").encode()
    answer = _raw_request(url, declared, [])  # refused from the header alone, before any of the body
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert proc.poll() is None


def test_ctrl_c_stops_the_app_with_a_job_running_and_leaves_nothing(held_app, photo_files):
    proc, url, marker, temp, output = held_app
    assert len(list(temp.glob("geoxai-app-*"))) == 1  # the app's temporary work folder
    with httpx.Client(base_url=url, timeout=60) as client:
        with open(photo_files[0], "rb") as handle:
            photo = client.post("/api/photos", files={"photo": ("a.jpg", handle, "image/jpeg")}).json()["photo"]
        r = client.post("/api/jobs", json={"photo": photo, "model": "tiny", "explainer": "gradcam"})
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        deadline = time.monotonic() + 120
        while not marker.exists():  # the job is inside the explainer now, and stays there
            assert time.monotonic() < deadline, "the job never reached the explainer"
            time.sleep(0.05)
        assert client.get(f"/api/jobs/{job}").json()["state"] == "running"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("geoxai app did not stop within 30 s of Ctrl-C with a job running")
    took = time.monotonic() - sent
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    assert proc.returncode == 130  # stopped by Ctrl-C, as the shell's convention says
    assert list(temp.glob("geoxai-app-*")) == [], "the work folder was left behind"  # (torch keeps its own)
    assert "Traceback" not in "".join(output), "".join(output)
