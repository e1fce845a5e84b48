"""What the explorer refuses from other web pages (issue 22 §1), through the whole ASGI app
(Starlette's test client): the Host allowlist, the same-origin check, JSON-only jobs, no path
options, capped numbers, bounded uploads, the per-client storage cap and expiry, no server paths
in answers, and the security headers on every response."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette", reason="geoxai app needs starlette (a dependency)")
from _app_helpers import png_bytes, wait_for_job  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from geoxai.app.engine import Explorer  # noqa: E402
from geoxai.app.limits import CAPS  # noqa: E402
from geoxai.app.server import create_app  # noqa: E402

BASE = "http://127.0.0.1:8000"
SAME_ORIGIN = {"Origin": BASE}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_client(tmp_path, clock):
    opened = []

    def make(**options):
        explorer_options = {k: options.pop(k) for k in ("max_storage", "ttl_s", "max_queued") if k in options}
        explorer = Explorer(tmp_path / "work", clock=clock, probe=False, **explorer_options)
        client = TestClient(create_app(explorer, **options), base_url=BASE)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


def _upload(client, photo, name="street.png", **headers):
    return client.post("/api/photos", files={"photo": (name, png_bytes(photo), "image/png")}, headers=headers)


def test_only_its_own_host_names_get_an_answer(make_client):
    client = make_client(allow_hosts=("geo.lan",))
    for host in ("evil.example", "evil.example:8000", "127.0.0.2", "localhost.evil.example"):
        r = client.get("/api/plugins", headers={"Host": host})
        assert r.status_code == 421, host
        assert "--allow-host" in r.json()["error"]
    for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "geo.lan:8000"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host


def test_cross_origin_writes_are_refused(client, photos):
    body = {"photo": "x", "model": "tiny", "explainer": "gradcam"}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://127.0.0.1:9999"},
                    {"Referer": "http://evil.example/page.html"}):
        assert client.post("/api/jobs", json=body, headers=headers).status_code == 403, headers
        assert _upload(client, photos[0], **headers).status_code == 403, headers
    assert _upload(client, photos[0], Origin=BASE).status_code == 200
    assert _upload(client, photos[0], Referer=f"{BASE}/").status_code == 200
    assert _upload(client, photos[0]).status_code == 200  # no Origin, no Referer: not a web page


def test_jobs_must_be_sent_as_json(client, photos):
    photo = _upload(client, photos[0]).json()["photo"]
    text = json.dumps({"photo": photo, "model": "tiny", "explainer": "gradcam"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = client.post("/api/jobs", content=text, headers={"Content-Type": content_type, **SAME_ORIGIN})
        assert r.status_code == 415 and "application/json" in r.json()["error"], content_type
    assert not client.app.app.state.explorer.jobs  # nothing was queued
    r = client.post("/api/photos", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


@pytest.mark.parametrize("kind, options, named", [
    ("segmenter", {"classes": "/etc/passwd"}, "classes"),                 # the reproduction
    ("segmenter", "classes=/etc/passwd", "classes"),
    ("segmenter", {"encoder_depth": "../../etc/passwd"}, "encoder_depth"),  # smp takes any keyword
    ("model", {"weights": "/any/path"}, "weights"),
    ("model", "weights=hf://org/repo", "weights"),
])
def test_no_file_system_path_from_the_web(client, photos, kind, options, named):
    photo = _upload(client, photos[0]).json()["photo"]
    request = {"photo": photo, "model": "tiny", "explainer": "gradcam", "segmenter": "smp" if kind == "segmenter"
               else None, f"{kind}_options": options}
    r = client.post("/api/jobs", json=request, headers=SAME_ORIGIN)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error.startswith(f"{kind} ") and f": option {named} is not accepted from the web page" in error
    assert not client.app.app.state.explorer.jobs


def test_numeric_options_are_capped(client, photos):
    photo = _upload(client, photos[0]).json()["photo"]
    base = {"photo": photo, "model": "tiny", "explainer": "ig-smoothgrad"}
    cases = [({"explainer_options": f"n_samples={CAPS['n_samples'] + 1}"}, f"n_samples={CAPS['n_samples'] + 1}"),
             ({"explainer_options": {"budget": 10 ** 9}}, f"limit of {CAPS['budget']}"),
             ({"explainer_options": "n_samples=40, n_steps=500"}, "n_samples x n_steps = 20000"),
             ({"explainer_options": "n_steps=500"}, "n_samples x n_steps = 2500"),  # with the default 5 samples
             ({"segmenter": "tiny", "segmenter_options": {"num_concepts": 10 ** 6}}, "num_concepts")]
    for extra, named in cases:
        r = client.post("/api/jobs", json={**base, **extra}, headers=SAME_ORIGIN)
        assert r.status_code == 422 and named in r.json()["error"], (extra, r.text)
    r = client.post("/api/jobs", json={**base, "explainer_options": "n_samples=two"}, headers=SAME_ORIGIN)
    assert r.status_code == 400 and "n_samples must be int" in r.json()["error"]
    assert not client.app.app.state.explorer.jobs


def test_uploads_over_the_limit_are_refused(make_client, photos):
    data = png_bytes(photos[0])
    client = make_client(max_upload=len(data) - 1)
    r = client.post("/api/photos", files={"photo": ("big.png", data, "image/png")})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    roomy = make_client(max_upload=len(data))
    assert roomy.post("/api/photos", files={"photo": ("ok.png", data, "image/png")}).status_code == 200

    def chunks():  # no Content-Length: the body is cut off as it streams
        yield b"--x\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n\r\n"
        for _ in range(200):
            yield b"\0" * 1024

    r = client.post("/api/photos", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413


def test_storage_cap_per_client_and_expiry(make_client, photos, clock):
    sizes = [len(png_bytes(p)) for p in photos[:2]]
    client = make_client(max_storage=int(2.5 * max(sizes)), ttl_s=600)
    first = _upload(client, photos[0]).json()
    clock.now += 1
    second = _upload(client, photos[1]).json()
    # preview PNGs count too: the two photos do not fit together, so the older one went
    assert client.get(first["preview"]).status_code == 404
    assert client.get(second["preview"]).status_code == 200
    job = client.post("/api/jobs", json={"photo": second["photo"], "model": "tiny", "explainer": "gradcam"}).json()
    assert wait_for_job(client, job["job"])["state"] == "done"
    clock.now += 601
    third = _upload(client, photos[2]).json()  # the expiry runs here
    assert client.get(second["preview"]).status_code == 404
    assert client.get(f"/api/jobs/{job['job']}").status_code == 404
    assert client.get(third["preview"]).status_code == 200
    r = client.post("/api/jobs", json={"photo": second["photo"], "model": "tiny", "explainer": "gradcam"})
    assert r.status_code == 400 and "expired" in r.json()["error"]


def test_queue_is_bounded(make_client, photos):
    client = make_client(max_queued=0)
    photo = _upload(client, photos[0]).json()["photo"]
    r = client.post("/api/jobs", json={"photo": photo, "model": "tiny", "explainer": "gradcam"})
    assert r.status_code == 429


def test_headers_on_every_response_and_no_server_paths(client, photos, tmp_path):
    photo = _upload(client, photos[0]).json()["photo"]
    job = client.post("/api/jobs", json={"photo": photo, "model": "tiny", "explainer": "gradcam",
                                         "segmenter": "tiny"}).json()["job"]
    status = wait_for_job(client, job)
    assert status["state"] == "done", status
    responses = [client.get("/"), client.get("/static/app.js"), client.get("/api/plugins"),
                 client.get(f"/api/jobs/{job}"), client.get("/api/jobs/nope"),
                 client.get("/", headers={"Host": "evil.example"}),
                 client.post("/api/jobs", json={}, headers={"Origin": "http://evil.example"})]
    responses += [client.get(url) for url in status["result"]["files"].values()]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
        assert str(tmp_path) not in r.text and "/tmp" not in r.text, r.url
    assert status["result"]["doc"]["image"] == "street.png"
    assert all(url.startswith("/api/") for url in status["result"]["files"].values())


def test_errors_carry_no_server_path(client, photos, monkeypatch, tmp_path):
    from geoxai import plugins
    from geoxai.weights import WeightsUnavailableError

    secret = tmp_path / "home" / "weights" / "big.ckpt"

    def missing(**_):
        raise WeightsUnavailableError(f"weights 'big' are not available: {secret} does not exist\nsecond line")

    monkeypatch.setitem(plugins.registry().entries["model"], "needs-weights",
                        plugins.Registration("model", "needs-weights", missing, "test"))
    photo = _upload(client, photos[0]).json()["photo"]
    job = client.post("/api/jobs", json={"photo": photo, "model": "needs-weights", "explainer": "gradcam"}).json()
    status = wait_for_job(client, job["job"])
    assert status["error"] == "weights 'big' are not available: …/big.ckpt does not exist"


def test_a_plugin_name_that_names_code_is_refused_and_never_imported(client, photos, tmp_path, monkeypatch):
    # the command line's package.module:Class imports (runs) that module; from a web page it is refused first
    import sys

    from geoxai.plugins import register_import, registry

    marker = tmp_path / "imported"
    (tmp_path / "geoxai_page_code.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n\n\nclass Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    name = "geoxai_page_code:Evil"
    photo = _upload(client, photos[0]).json()["photo"]
    for key in ("model", "explainer", "segmenter"):
        request = {"photo": photo, "model": "tiny", "explainer": "gradcam", key: name}
        r = client.post("/api/jobs", json=request, headers=SAME_ORIGIN)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error.startswith(f"{key} {name!r}: ") and "\n" not in error, error
        assert name not in registry().entries[key]
    assert not marker.exists() and "geoxai_page_code" not in sys.modules
    assert not client.app.app.state.explorer.jobs

    # registered from the command line in this process: still neither offered to the page nor taken from it
    register_import("model", name)
    try:
        listed = [row["name"] for row in client.get("/api/plugins").json()["models"]]
        assert "tiny" in listed and name not in listed
        r = client.post("/api/jobs", json={"photo": photo, "model": name, "explainer": "gradcam"}, headers=SAME_ORIGIN)
        assert r.status_code == 422 and r.json()["error"].startswith(f"model {name!r}: "), r.text
        assert not client.app.app.state.explorer.jobs
    finally:
        registry().entries["model"].pop(name, None)
        sys.modules.pop("geoxai_page_code", None)
