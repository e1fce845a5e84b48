"""An output folder that cannot be written (issue 22 §2): every command says so on one line,
naming the folder and the reason, and exits non-zero; no traceback.

The tests run as root here, where ``chmod`` does not stop writes, so the folder is made
read-only by refusing every write under it with EROFS, as a read-only mount would
(``read_only``); the ``chmod`` variant runs where the tests are not root."""
from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest
from _report_helpers import BASE_ARGS, make_dataset
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.testing import synthetic_photo

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@contextmanager
def read_only(folder: Path):
    """Every write, create, rename or removal under ``folder`` fails with EROFS, as on a
    read-only mount; reading is untouched."""
    folder = Path(folder).resolve()
    mp = pytest.MonkeyPatch()

    def inside(path) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(folder)
        except (TypeError, ValueError):
            return False

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def guard(real, writes):
        def wrapper(path, *args, **kwargs):
            if not isinstance(path, int) and writes(args, kwargs) and inside(path):
                refuse(path)
            return real(path, *args, **kwargs)
        return wrapper

    def opens_for_writing(args, kwargs):
        mode = args[0] if args else kwargs.get("mode", "r")
        return isinstance(mode, str) and any(c in mode for c in "wax+")

    always = lambda args, kwargs: True  # noqa: E731
    for_os_open = lambda args, kwargs: bool((args[0] if args else kwargs.get("flags", 0)) & WRITE_FLAGS)  # noqa: E731
    mp.setattr(builtins, "open", guard(builtins.open, opens_for_writing))
    mp.setattr(io, "open", guard(io.open, opens_for_writing))
    mp.setattr(os, "open", guard(os.open, for_os_open))
    for name in ("mkdir", "unlink", "remove", "rmdir"):
        mp.setattr(os, name, guard(getattr(os, name), always))
    def guard_target(real):
        def wrapper(src, dst, *args, **kwargs):
            if inside(dst):
                refuse(dst)
            return real(src, dst, *args, **kwargs)
        return wrapper

    for name in ("replace", "rename"):
        mp.setattr(os, name, guard_target(getattr(os, name)))
    try:
        yield folder
    finally:
        mp.undo()


def _photo(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "p.png"
    Image.fromarray(synthetic_photo(3, 64, 64)).save(path)
    return path


def _report(data, out):
    return ["report", *BASE_ARGS, "--data", str(data), "--out", str(out), "--workers", "0", "--quiet"]


def _assert_one_line_naming(result, folder: Path, reason: str = "Read-only file system"):
    assert result.exit_code != 0, result.output
    # start-up and random-weights notes may precede it; the error itself is one line
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert str(folder) in lines[0] and reason in lines[0], lines[0]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ro-data"), n=2)


@pytest.mark.parametrize("where", ["new report", "new sub-folder"])
def test_report_into_a_read_only_folder_is_one_line(small_dataset, tmp_path, where):
    folder = tmp_path / "ro"
    folder.mkdir()
    out = folder if where == "new report" else folder / "sub" / "report"
    with read_only(folder):
        result = CliRunner().invoke(main, _report(small_dataset, out))
    _assert_one_line_naming(result, folder)


def test_resuming_a_finished_report_in_a_read_only_folder_is_one_line(small_dataset, tmp_path):
    out = tmp_path / "report"
    assert CliRunner().invoke(main, _report(small_dataset, out)).exit_code == 0
    with read_only(out):
        result = CliRunner().invoke(main, _report(small_dataset, out))
    _assert_one_line_naming(result, out)


@pytest.mark.parametrize("command", ["explain", "segment", "quality"])
def test_other_commands_into_a_read_only_folder_are_one_line(small_dataset, tmp_path, command):
    photo = _photo(tmp_path / "photos")
    out = tmp_path / "ro"
    out.mkdir()
    args = {
        "explain": ["explain", "--model", "tiny", "--explainer", "gradcam", str(photo), "--out", str(out)],
        "segment": ["segment", "--segmenter", "tiny", str(photo), "--out", str(out)],
        "quality": ["quality", "--model", "tiny", "-e", "gradcam", "--steps", "4", "--sanity-stages", "2",
                    "--k", "100", "--quiet", "--data", str(small_dataset), "--out", str(out)],
    }[command]
    with read_only(out):
        result = CliRunner().invoke(main, args)
    _assert_one_line_naming(result, out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 0555 folder anyway")
def test_report_into_a_chmod_read_only_folder_is_one_line(small_dataset, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = CliRunner().invoke(main, _report(small_dataset, folder / "report"))
    finally:
        folder.chmod(stat.S_IRWXU)
    _assert_one_line_naming(result, folder, reason="Permission denied")
    shutil.rmtree(folder)
