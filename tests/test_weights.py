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
    assert "'t-missing'" in message and url in message and "weights=PATH" in message
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


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty weights cache and no network: every download fails as it does offline."""
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path / "home"))

    def no_network(wf, progress=True, force=False, timeout=60.0):
        raise weights.unavailable(weights.get(wf) if isinstance(wf, str) else wf, "no network")

    monkeypatch.setattr(weights, "download", no_network)


def test_missing_segmenter_weights_name_both_files_and_the_segmenter_option(offline, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from geoxai.cli import main
    from geoxai.plugins import load_segmenter
    from geoxai.testing import synthetic_photo

    with pytest.raises(WeightsUnavailableError) as info:
        load_segmenter("ade20k-hrnet")
    python = str(info.value)
    assert "encoder_epoch_30.pth" in python and "decoder_epoch_30.pth (http" in python
    assert "geoxai.load_segmenter(NAME, weights=DIR)" in python and "--weights" not in python
    Image.fromarray(synthetic_photo(0)).save(tmp_path / "p.png")
    result = CliRunner().invoke(main, ["explain", "-m", "tiny", "-e", "gradcam", "--segmenter", "ade20k-hrnet",
                                       str(tmp_path / "p.png"), "--out", str(tmp_path / "o")])
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(error) == 1 and "Traceback" not in result.output
    assert "--segmenter-option weights=DIR" in error[0] and "--weights PATH" not in error[0]
    assert "encoder_epoch_30.pth (http" in error[0] and "decoder_epoch_30.pth (http" in error[0]
    app = weights.weights_message(info.value, "app", field="segmenter weights folder")
    assert "give it with the segmenter weights folder field" in app and "--" not in app.split("failed")[1]


def test_missing_model_weights_give_the_weights_flag_in_the_cli(offline, tmp_path):
    from click.testing import CliRunner

    from geoxai.cli import main

    (tmp_path / "p.png").write_bytes(b"")
    result = CliRunner().invoke(main, ["predict", "-m", "s2", str(tmp_path / "p.png")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("Error: weights '") and error.endswith("or give the file's path with --weights PATH.")
