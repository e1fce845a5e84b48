"""Progress on stderr when stderr is a file (a batch job's log): every ``done/total`` count, the
last one ``N/N``, plus what a slow start-up is doing; ``--quiet`` hides it. Run as real processes
so stderr really is a file, not a terminal."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest


def _geoxai(tmp_path, *args) -> tuple[int, str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        done = subprocess.run([sys.executable, "-m", "geoxai", *map(str, args)], stdout=subprocess.PIPE,
                              stderr=err, text=True, env=env, timeout=300)
    return done.returncode, done.stdout, log.read_text()


@pytest.mark.parametrize("command", ["explain", "predict", "segment", "evaluate"])
def test_progress_in_a_log_file_shows_every_count_and_quiet_hides_it(command, tmp_path, photo_files):
    files = photo_files[:3]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    inputs = [*files, tmp_path / "broken.jpg"]
    if command == "explain":
        args = ["explain", *inputs, "-m", "tiny", "-e", "gradcam", "--no-figure", "--batch-size", "8",
                "-O", tmp_path / "out"]
    elif command == "predict":
        args = ["predict", *inputs, "-m", "tiny"]
    elif command == "segment":
        args = ["segment", *inputs, "--segmenter", "tiny", "-O", tmp_path / "seg"]
    else:
        pd.DataFrame({"image": [p.name for p in inputs], "lat": 0.0, "lon": 0.0}).to_csv(
            tmp_path / "data.csv", index=False)
        args = ["evaluate", "-m", "tiny", "--data", tmp_path / "data.csv"]
    code, _, log = _geoxai(tmp_path, *args)
    assert code in (0, 1), log  # the broken file: one line, the others done
    lines = log.splitlines()
    counts = [line.rpartition(": ")[2] for line in lines if line.rpartition(": ")[2].count("/") == 1
              and line.rpartition(": ")[2].replace("/", "").isdigit()]
    assert counts[-1] == "4/4", log
    assert counts == ["1/4", "2/4", "3/4", "4/4"], log  # once per image, in a batch of 8 too
    assert "\r" not in log
    assert any("loading" in line for line in lines), log
    if command != "evaluate":
        assert any("broken.jpg" in line for line in lines), log

    code, _, log = _geoxai(tmp_path, *args, "--quiet")
    assert "4/4" not in log and "loading" not in log


def test_on_a_terminal_the_bar_ends_on_its_own_line_at_n_of_n():
    import io

    from geoxai.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    with Progress(3, "explain", stream=screen) as progress:
        progress.status("loading model tiny ...")
        for _ in range(3):
            progress.advance()
    text = screen.getvalue()
    assert "loading model tiny ..." in text and "3/3" in text.rsplit("\r", 1)[-1] and text.endswith("\n")
    quiet = Terminal()
    with Progress(3, "explain", enabled=False, stream=quiet) as progress:
        progress.advance(3)
        progress.error("error: broken.jpg is not an image")  # errors are shown even when quiet
    assert quiet.getvalue() == "error: broken.jpg is not an image\n"
