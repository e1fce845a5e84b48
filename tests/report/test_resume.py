"""Interrupting a report (kill -9) and resuming it loses and duplicates nothing; changed configs are refused."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _report_helpers import BASE_ARGS, assert_same_rows, make_dataset
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.report.store import PartStore


def _cli(dataset, out, *extra):
    return ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out), "--workers", "0",
            "--batch-size", "4", "--quiet", *extra]


def test_kill9_then_resume_equals_uninterrupted_run(dataset, reference_report, tmp_path):
    out = tmp_path / "killed"
    pythonpath = os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=pythonpath, OMP_NUM_THREADS="1")
    # one image per batch and per part; the child holds at a known explainer call (so a fast
    # machine cannot finish first) and is killed there
    args = _cli(dataset, out, "--part-size", "1")
    args[args.index("--batch-size") + 1] = "1"
    marker = tmp_path / "held"
    wanted_parts = random.Random(0).randint(2, 5)
    cmd = [sys.executable, str(Path(__file__).with_name("_held_run.py")), str(wanted_parts), str(marker), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not marker.exists():
        time.sleep(0.01)
    assert proc.poll() is None and marker.exists(), f"the run was not held: {proc.stderr.read().decode()[-500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = PartStore(out).finished_ids()
    assert len(done_before) == wanted_parts

    result = CliRunner().invoke(main, _cli(dataset, out, "--part-size", "2"))
    assert result.exit_code == 0, result.output
    assert_same_rows(out, reference_report)
    assert not list(out.rglob("*.tmp"))


def test_ig_smoothgrad_rows_do_not_depend_on_batching_and_follow_the_seed(tmp_path):
    """A resume or a shard cuts the batches elsewhere: ig-smoothgrad's rows must not change."""
    dataset = make_dataset(tmp_path / "data", n=7)
    args = ["report", *BASE_ARGS, "--data", str(dataset), "--workers", "0", "--quiet",
            "--explainer-option", "n_steps=3", "--explainer-option", "n_samples=2"]
    args[args.index("--explainer") + 1] = "ig-smoothgrad"
    runs = {}
    for name, extra in {"b4": ["--batch-size", "4"], "b3": ["--batch-size", "3"],
                        "seed": ["--batch-size", "4", "--seed", "1"]}.items():
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
        runs[name] = tmp_path / name
    assert_same_rows(runs["b3"], runs["b4"])
    with pytest.raises(AssertionError):
        assert_same_rows(runs["seed"], runs["b4"])


def test_resume_skips_finished_images_and_clears_leftovers(dataset, reference_report, tmp_path):
    out = tmp_path / "again"
    import shutil

    shutil.copytree(reference_report, out)
    parts_before = sorted(p.name for p in (out / "images").glob("*.parquet"))
    # leftovers of a kill: a temp file, and a concepts part whose images part never got committed
    (out / "images" / ".part-x.parquet.tmp").write_bytes(b"half")
    orphan = out / "concepts" / "part-orphan.parquet"
    shutil.copy(next((out / "concepts").glob("part-*.parquet")), orphan)
    result = CliRunner().invoke(main, _cli(dataset, out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "images").glob("*.parquet")) == parts_before  # nothing recomputed
    assert not orphan.exists() and not (out / "images" / ".part-x.parquet.tmp").exists()
    assert_same_rows(out, reference_report)


@pytest.mark.parametrize("change", [["--k", "200"], ["--dilation", "1"], ["--min-size", "0.2"],
                                    ["--explainer-option", "layer=stage2"], ["--segmenter-option", "seed=3"]])
def test_changed_configuration_is_refused(dataset, reference_report, tmp_path, change):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(reference_report, out)
    args = _cli(dataset, out)
    for flag in change[::2]:  # replace an existing flag's value, or add the flag
        if flag in args:
            i = args.index(flag)
            del args[i:i + 2]
    result = CliRunner().invoke(main, args + change)
    assert result.exit_code != 0
    message = result.output.strip()
    assert message.count("\n") == 0 and "different configuration" in message and str(out) in message


def test_changed_dataset_is_refused(reference_report, dataset, tmp_path):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(reference_report, out)
    other = make_dataset(tmp_path / "other", n=24, seed=5)
    result = CliRunner().invoke(main, _cli(other, out))
    assert result.exit_code != 0 and "data_hash" in result.output


def test_summary_options_may_change_between_runs(dataset, reference_report, tmp_path):
    import json
    import shutil

    out = tmp_path / "r"
    shutil.copytree(reference_report, out)
    result = CliRunner().invoke(main, _cli(dataset, out) + ["--radius", "2500", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["radius_km"] == 2500


def test_report_rows_hold_the_explainers_info_and_old_parts_still_read(tmp_path):
    import json

    import pyarrow.parquet as pq

    from geoxai.report.store import PartStore

    dataset = make_dataset(tmp_path / "data", n=3)
    args = ["report", *BASE_ARGS, "--data", str(dataset), "--workers", "0", "--quiet", "--out", str(tmp_path / "r"),
            "--explainer-option", "n_steps=2", "--explainer-option", "n_samples=2",
            "--explainer-option", "completeness_copies=1"]  # 4 passes are below the default's work share
    args[args.index("--explainer") + 1] = "ig-smoothgrad"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    store = PartStore(tmp_path / "r")
    infos = [json.loads(i) for i in store.read_images().explainer_info]
    assert len(infos) == 3 and all(i["passes"] == 4 and "completeness" in i for i in infos)
    # a part written before the column existed reads with nulls instead of failing
    for name in store.part_names():
        table = pq.read_table(store.images_dir / name)
        pq.write_table(table.drop(["explainer_info"]), store.images_dir / name)
    images = store.read_images()
    assert len(images) == 3 and images.explainer_info.isna().all()
    assert store.read_images(columns=["image_id", "explainer_info"]).shape == (3, 2)
