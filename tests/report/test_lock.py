"""The output folder's lock (issue 23 item 3, issue 22 §2): a second run on a folder a live run
holds is refused at once with one line naming the holder; a killed holder's lock is taken over;
for ``report`` and ``quality``. The first run is held at a known explainer call
(``_held_run.py``), never raced against the machine's speed."""
from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from _held_run import start_held as _start_held
from _held_run import wait_until_held as _wait_until_held
from _report_helpers import BASE_ARGS, assert_same_rows, make_dataset
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.jobs.lock import LOCK_FILE, FolderBusyError, FolderLock, read_record


def _report(dataset, out, *extra):
    return ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out), "--workers", "0", "--batch-size", "1",
            "--part-size", "1", "--quiet", *extra]


def _quality(dataset, out, *extra):
    return ["quality", "--model", "tiny", "-e", "gradcam", "--steps", "2", "--sanity-stages", "-1", "--no-baselines",
            "--part-size", "1", "--batch-size", "1", "--quiet", "--data", str(dataset), "--out", str(out), *extra]


@pytest.mark.parametrize("command", ["report", "quality"])
def test_a_second_run_is_refused_at_once_and_a_killed_holders_lock_is_taken_over(tmp_path, monkeypatch, command):
    dataset = make_dataset(tmp_path / "data", n=4)
    out = tmp_path / "out"
    args = (_report if command == "report" else _quality)(dataset, out)
    marker = tmp_path / "held"
    proc = _start_held(args, 1, marker)
    try:
        _wait_until_held(proc, marker)
        # the refusal comes before anything slow: building the model here would fail the test
        from geoxai.jobs.models import ModelSpec

        monkeypatch.setattr(ModelSpec, "build", lambda *a, **k: pytest.fail("built the model"))
        refused = CliRunner().invoke(main, args)
        assert refused.exit_code != 0
        line = refused.output.strip()
        assert "\n" not in line and "in use by" in line, refused.output
        assert f"geoxai {command} (pid {proc.pid} on {socket.gethostname()}, started " in line
        monkeypatch.undo()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the holder dies without releasing anything
        proc.wait()
    assert read_record(out / LOCK_FILE)["pid"] == proc.pid  # its record is left behind
    resumed = CliRunner().invoke(main, args)
    assert resumed.exit_code == 0, resumed.output
    assert f"taking over the lock of geoxai {command} (pid {proc.pid}" in resumed.stderr
    record = read_record(out / LOCK_FILE)
    assert record["pid"] == os.getpid() and record.get("ended")  # released at the end
    again = CliRunner().invoke(main, args)  # a run that ended cleanly is not reported as killed
    assert again.exit_code == 0 and "taking over" not in again.stderr, again.output


def test_the_resumed_report_after_a_refused_second_run_loses_and_duplicates_nothing(dataset, reference_report,
                                                                                     tmp_path):
    out = tmp_path / "out"
    args = _report(dataset, out)
    marker = tmp_path / "held"
    proc = _start_held(args, 3, marker)
    try:
        _wait_until_held(proc, marker)
        assert CliRunner().invoke(main, args).exit_code != 0
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    resumed = CliRunner().invoke(main, args)
    assert resumed.exit_code == 0, resumed.output
    assert_same_rows(out, reference_report)


def test_a_refused_run_leaves_no_folder_and_the_lock_is_exclusive_in_one_process(tmp_path):
    folder = tmp_path / "new"
    lock = FolderLock(folder, "report").acquire_if_exists()
    assert not lock.held and not folder.exists()  # a new folder is made only by acquire()
    with FolderLock(folder, "report").acquire():
        with pytest.raises(FolderBusyError, match=f"pid {os.getpid()}"):
            FolderLock(folder, "quality").acquire()
    with FolderLock(folder, "quality").acquire() as again:  # released: free again
        assert again.held


def test_a_merge_into_a_held_folder_is_refused(reference_report, tmp_path):
    out = tmp_path / "merged"
    with FolderLock(out, "report").acquire():
        refused = CliRunner().invoke(main, ["report", "merge", str(reference_report), "--out", str(out), "--quiet"])
    assert refused.exit_code != 0 and f"in use by geoxai report (pid {os.getpid()}" in refused.output
    assert not (out / "config.json").exists()
    merged = CliRunner().invoke(main, ["report", "merge", str(reference_report), "--out", str(out), "--quiet"])
    assert merged.exit_code == 0, merged.output


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    import errno

    from geoxai.jobs import lock as lock_module

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(lock_module.os, "open", read_only)  # as on a read-only mount (root ignores modes)
    with pytest.raises(ValueError, match=r"out: cannot write the output folder \(Read-only file system\)"):
        FolderLock(tmp_path / "out", "report").acquire()


def test_no_lock_environment_variable_skips_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOXAI_NO_LOCK", "1")
    with FolderLock(tmp_path, "report").acquire() as first, FolderLock(tmp_path, "report").acquire() as second:
        assert not first.held and not second.held


def _duplicate_every_part(folder: Path, details: str) -> None:
    """What two unlocked runs on one folder left: every image committed twice, in parts of two names."""
    import shutil

    for part in sorted((folder / "images").glob("part-*.parquet")):
        twin = part.name.replace("part-", "part-zz-")
        shutil.copy(folder / details / part.name, folder / details / twin)
        shutil.copy(part, folder / "images" / twin)


def test_a_report_folder_with_duplicated_ids_is_repaired_on_resume(dataset, reference_report, tmp_path):
    import shutil

    from geoxai.report.outputs import finalize
    from geoxai.report.store import PartStore

    out = tmp_path / "doubled"
    shutil.copytree(reference_report, out)
    _duplicate_every_part(out, "concepts")
    assert PartStore(out).read_images()["image_id"].duplicated().sum() == 24
    with pytest.raises(ValueError, match="repeat an id"):  # one line, not a pandas traceback
        finalize(out)
    result = CliRunner().invoke(main, _report(dataset, out))
    assert result.exit_code == 0, result.output
    assert "held 24 duplicated image rows" in result.stderr
    assert_same_rows(out, reference_report)
    assert not list((out / "images").glob("part-zz-*"))  # the same rows kept every time: the first parts


def test_a_quality_folder_with_duplicated_ids_is_repaired_on_resume(tmp_path):
    import shutil

    from geoxai.quality.store import QualityStore

    dataset = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "q"
    assert CliRunner().invoke(main, _quality(dataset, out)).exit_code == 0
    reference = tmp_path / "reference"
    shutil.copytree(out, reference)
    _duplicate_every_part(out / "gradcam", "curves")
    result = CliRunner().invoke(main, _quality(dataset, out))
    assert result.exit_code == 0, result.output
    assert "held 3 duplicated image rows" in result.stderr
    rows = QualityStore(out / "gradcam").read_images()
    assert rows.drop(columns="shard").equals(QualityStore(reference / "gradcam").read_images().drop(columns="shard"))
    curves = QualityStore(out / "gradcam").read_concepts()
    assert len(curves) == len(QualityStore(reference / "gradcam").read_concepts())
