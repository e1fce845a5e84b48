"""Download, cache, checksum and offline behaviour, against a local HTTP server and file URLs."""
import hashlib
import http.server
import threading

import pytest

from geoxai import weights
from geoxai.hookspecs import hookimpl
from geoxai.plugins import register_plugin
from geoxai.weights import ChecksumError, WeightFile, WeightsUnavailableError

PAYLOAD = b"geoxai-test-weights" * 1000


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "w.bin").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _register(*files):
    class P:
        @hookimpl
        def register_weights(self, register):
            for f in files:
                register(f)
    register_plugin(P(), "test-weights")


def test_download_verifies_and_caches(server):
    wf = WeightFile("t-http", f"{server}/w.bin", "w.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD))
    _register(wf)
    path = weights.resolve("t-http", progress=False)
    assert path == weights.cached_path(wf) and path.read_bytes() == PAYLOAD
    assert str(weights.geoxai_home()) in str(path)
    assert weights.resolve("t-http") == path  # cached: no second download
    assert not list(path.parent.glob("*.part-*")) and not list(path.parent.glob(".*.tmp"))


def test_checksum_mismatch_is_refused_and_leaves_nothing(server):
    wf = WeightFile("t-bad", f"{server}/w.bin", "w.bin", sha256="0" * 64)
    _register(wf)
    with pytest.raises(ChecksumError, match="sha256 does not match"):
        weights.download("t-bad", progress=False)
    assert not weights.cached_path(wf).exists()
    assert not list(weights.cached_path(wf).parent.glob("*"))


def test_file_url_and_explicit_path(tmp_path):
    src = tmp_path / "local.bin"
    src.write_bytes(PAYLOAD)
    _register(WeightFile("t-file", src.as_uri(), "local.bin", size=len(PAYLOAD)))
    assert weights.download("t-file", progress=False).read_bytes() == PAYLOAD
    assert weights.resolve("t-file", weights=src) == src
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        weights.resolve("t-file", weights=tmp_path / "missing.bin")


def test_offline_error_names_file_url_and_where_to_put_it(server):
    url = f"{server}/not-there.bin"
    _register(WeightFile("t-missing", url, "not-there.bin"))
    with pytest.raises(WeightsUnavailableError) as info:
        weights.resolve("t-missing", progress=False)
    message = str(info.value)
    assert "'t-missing'" in message and url in message and "--weights PATH" in message
    assert str(weights.cached_path(weights.get("t-missing"))) in message and "\n" not in message


def test_unknown_weights_name():
    with pytest.raises(KeyError, match="unknown weight file 'nope'"):
        weights.get("nope")


def test_install_local_checks_before_placing(tmp_path):
    src = tmp_path / "x.bin"
    src.write_bytes(PAYLOAD)
    _register(WeightFile("t-local", "http://127.0.0.1:9/x.bin", "x.bin", size=len(PAYLOAD) + 1))
    with pytest.raises(ChecksumError, match="size"):
        weights.install_local("t-local", src)
