"""Inputs that hung or aborted a command (issue 22 §3): a FIFO named like a photo, a NUL byte
in a CSV image path, one over-long CSV row. Each gets one line; every other image goes on."""
from __future__ import annotations

import json
import os
import threading

import pytest
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.io.images import ImageError, list_images, load_image
from geoxai.testing import synthetic_photo


def _photos(folder, names=("good1.jpg", "good2.jpg")):
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        Image.fromarray(synthetic_photo(seed, 64, 80)).save(folder / name, quality=90)
    return folder


def _without_hanging(fifo, call):
    """Run ``call`` in a thread; should it block on the FIFO (the bug), a writer opens and closes
    the FIFO so the reader sees its end, and the test fails instead of hanging for ever."""
    result: dict = {}

    def target():
        try:
            result["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=60)  # a hang guard only: the fixed code never waits on the FIFO
    if thread.is_alive():
        while thread.is_alive():  # release the blocked reader (each time it opens the FIFO again)
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader at this moment
                pass
            thread.join(timeout=0.1)
        pytest.fail(f"blocked on the FIFO {fifo}")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def folder_with_fifo(tmp_path):
    folder = _photos(tmp_path / "photos")
    os.mkfifo(folder / "pipe.jpg")
    return folder


def test_load_image_refuses_a_fifo_without_opening_it_blocking(folder_with_fifo):
    fifo = folder_with_fifo / "pipe.jpg"
    with pytest.raises(ImageError, match=r"pipe\.jpg: a FIFO \(named pipe\), not an image file"):
        _without_hanging(fifo, lambda: load_image(fifo))
    assert fifo in list_images([folder_with_fifo])  # listed, so it gets its one line where it is loaded


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_a_fifo_in_an_image_folder_is_one_line_and_the_rest_goes_on(folder_with_fifo, tmp_path, command):
    out = tmp_path / "out"
    args = {"predict": ["predict", str(folder_with_fifo), "-m", "tiny", "--json"],
            "explain": ["explain", str(folder_with_fifo), "-m", "tiny", "-e", "gradcam", "-O", str(out)]}[command]
    result = _without_hanging(folder_with_fifo / "pipe.jpg", lambda: CliRunner().invoke(main, args))
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "pipe.jpg: a FIFO" in errors[0], result.stderr
    if command == "predict":
        assert len(result.stdout.splitlines()) == 2
    else:
        assert sorted(p.name for p in out.glob("*.json")) == ["good1.json", "good2.json"]


def _evaluate(csv_path, out):
    return CliRunner().invoke(main, ["evaluate", "-m", "tiny", "--data", str(csv_path), "-O", str(out), "--quiet",
                                     "--workers", "0"])


def test_a_nul_byte_in_a_csv_image_path_fails_that_row_only(tmp_path):
    folder = _photos(tmp_path / "data")
    (folder / "data.csv").write_text("image,lat,lon,id\ngood1.jpg,10,10,a\nbad\0name.jpg,20,20,b\n"
                                     "good2.jpg,30,30,c\n", encoding="utf-8")
    result = _evaluate(folder / "data.csv", tmp_path / "eval")
    assert result.exit_code == 1, result.output
    assert "b: " in result.stderr and "bad\\x00name.jpg: file name contains a NUL byte" in result.stderr
    assert len((tmp_path / "eval" / "predictions.csv").read_text().splitlines()) == 3  # header + 2
    assert json.loads((tmp_path / "eval" / "accuracy.json").read_text())["failed"] == 1


def test_one_overlong_csv_row_fails_that_row_only(tmp_path):
    folder = _photos(tmp_path / "data")
    long_name = "x" * 200_000 + ".jpg"  # over csv's default 128 KiB field limit
    (folder / "data.csv").write_text(f"image,lat,lon,id\ngood1.jpg,10,10,a\n{long_name},20,20,b\n"
                                     "good2.jpg,30,30,c\n", encoding="utf-8")
    result = _evaluate(folder / "data.csv", tmp_path / "eval")
    assert result.exit_code == 1, result.output
    assert "file name longer than 255 bytes" in result.stderr and len(result.stderr) < 2000
    assert len((tmp_path / "eval" / "predictions.csv").read_text().splitlines()) == 3
