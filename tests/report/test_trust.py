"""What the kill/resume trials found (issue 13, section 4) and the report's bad-input cases:
a refused run leaves its folder free, stray temporaries go, files get normal modes, summaries
are byte-reproducible, Ctrl-C is prompt and loses nothing, a missing concepts part is recomputed."""
import os
import shutil
import signal
import stat
import threading
import time
from pathlib import Path

import pytest
from _held_run import start_held as _start_held
from _held_run import wait_until_held as _wait_until_held
from _report_helpers import BASE_ARGS, assert_same_rows, make_dataset
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.report.store import PartStore


def _cli(dataset, out, *extra):
    return ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out), "--workers", "0",
            "--batch-size", "4", "--quiet", *extra]


# ---- validate before binding ------------------------------------------------------------------
@pytest.mark.parametrize("bad", [["--model", "no-such-model"], ["--model-option", "bogus=1"],
                                 ["--explainer", "no-such-explainer"], ["--dilation", "-1"]],
                         ids=["unknown-model", "bad-option", "unknown-explainer", "dilation"])
def test_a_refused_report_leaves_its_folder_free_for_the_corrected_run(tmp_path, bad):
    dataset = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "out"
    args = _cli(dataset, out)
    name = bad[0]
    if name in args:
        args[args.index(name) + 1] = bad[1]
    else:
        args += bad
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0 and refused.output.strip().count("\n") <= 3, refused.output
    assert not (out / "config.json").exists()
    fixed = CliRunner().invoke(main, _cli(dataset, out))
    assert fixed.exit_code == 0, fixed.output


# ---- stray temporaries, file modes, reproducible summaries ------------------------------------
def test_stray_temporaries_are_removed_from_every_folder_the_report_owns(reference_report, dataset, tmp_path):
    out = tmp_path / "report"
    shutil.copytree(reference_report, out)
    strays = [out / ".summary.csv.k3j2.tmp", out / "plots" / ".ci_median.png.a1b2.tmp",
              out / "examples" / ".fig.png.zz.tmp", out / "images" / ".part-x.parquet.tmp",
              out / "concepts" / ".part-x.parquet.tmp", out / ".report.html.q.tmp"]
    for p in strays:
        p.write_bytes(b"half")
    result = CliRunner().invoke(main, _cli(dataset, out, "--part-size", "8", "--examples", "2"))
    assert result.exit_code == 0, result.output
    assert not [p for p in strays if p.exists()]
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_report_and_explain_files_get_the_mode_a_plain_open_gives(tmp_path, photo_files, umask):
    dataset = make_dataset(tmp_path / "data", n=4)
    old = os.umask(umask)
    try:
        out = tmp_path / "report"
        assert CliRunner().invoke(main, _cli(dataset, out, "--examples", "1", "--min-images", "1")).exit_code == 0
        assert CliRunner().invoke(main, _cli(dataset, out, "--retry-failed")).exit_code == 0
        explained = tmp_path / "explained"
        result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "-m", "tiny", "-e", "gradcam",
                                           "-s", "tiny", "--k", "50", "--map", "world", "-O", str(explained)])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    wanted = 0o666 & ~umask
    files = [p for p in [*out.rglob("*"), *explained.rglob("*")] if p.is_file()]
    names = {p.name for p in files}
    assert {"config.json", "manifest.txt", "summary.csv", "summary.json", "report.html", "ci_median.png"} <= names
    assert any(n.endswith("_figure.png") for n in names) and any(n.endswith(".npy") for n in names)
    wrong = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) != wanted}
    assert not wrong, f"expected {oct(wanted)}: {wrong}"


def test_summaries_do_not_depend_on_the_order_of_the_part_files(tmp_path):
    """Parts written in the same second are named in random order; a mean over float rows must
    not depend on it (these five values give means that differ in the last digit by order)."""
    from geoxai.report.summary import summarize

    values = {"a": -0.0023250307746388345, "b": -2187916.639325457, "c": -0.012459109472530651,
              "d": -73.22673547034516, "e": -544258.9828573099}

    def rows(image_id):
        image = {"image_id": image_id, "path": f"{image_id}.jpg", "lat": 0.0, "lon": 0.0, "status": "ok",
                 "error": None, "pred_cell": 0, "pred_key": "0", "pred_label": "x", "pred_lat": 0.0,
                 "pred_lon": 0.0, "pred_prob": 1.0, "gcd_km": 1.0, "shard": "0/1"}
        concept = {"image_id": image_id, "concept": "sky", "concept_index": 0, "ci": values[image_id],
                   "tki": 0.1, "size": 0.5, "valid": True}
        return [image], [concept]

    texts = []
    for order in ("abcde", "dcabe"):
        store = PartStore(tmp_path / order)
        store.prepare()
        for position, image_id in enumerate(order):
            store.write_part(*rows(image_id), tag=f"{position}-")  # the tag fixes the name order
        summary = summarize(store.read_images(), store.read_concepts(), min_images=1)
        texts.append((summary.to_json(), summary.concepts.to_csv(index=False)))
    assert texts[0] == texts[1]


def test_a_part_is_fsynced_file_and_folder_before_and_after_its_commit(tmp_path, monkeypatch):
    from geoxai.jobs import store as store_module  # the part store of every job kind

    events = []
    real_replace = os.replace
    monkeypatch.setattr(store_module, "fsync_file", lambda p: events.append(("fsync", Path(p).parent.name)))
    monkeypatch.setattr(store_module, "fsync_dir", lambda p: events.append(("fsync-dir", Path(p).name)))
    monkeypatch.setattr(store_module.os, "replace",
                        lambda a, b: (events.append(("rename", Path(b).parent.name)), real_replace(a, b)))
    store = PartStore(tmp_path)
    store.images_dir.mkdir()
    store.concepts_dir.mkdir()
    events.clear()
    store.write_part([], [])
    assert events == [("fsync", "concepts"), ("fsync", "images"), ("rename", "concepts"), ("fsync-dir", "concepts"),
                      ("rename", "images"), ("fsync-dir", "images")]


def test_a_missing_concepts_part_is_recomputed_never_read_as_no_concepts(reference_report, dataset, tmp_path):
    out = tmp_path / "report"
    shutil.copytree(reference_report, out)
    victim = sorted((out / "concepts").glob("part-*.parquet"))[1]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match="part file missing"):
        PartStore(out).read_concepts()
    result = CliRunner().invoke(main, _cli(dataset, out, "--part-size", "8"))
    assert result.exit_code == 0, result.output
    assert "is missing; its images are computed again" in result.stderr
    assert_same_rows(out, reference_report)


# ---- Ctrl-C and kill -9 ---------------------------------------------------------------------
def test_ctrl_c_stops_within_a_second_and_loses_nothing(dataset, reference_report, tmp_path):
    out = tmp_path / "interrupted"
    args = _cli(dataset, out, "--part-size", "1")
    args[args.index("--batch-size") + 1] = "1"
    args[args.index("--workers") + 1] = "2"  # decoding worker processes, as a terminal's Ctrl-C reaches them
    marker = tmp_path / "held"
    proc = _start_held(args, 3, marker)
    _wait_until_held(proc, marker)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), raw.decode()) for raw in proc.stderr))
    reader.start()
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # the whole process group, like Ctrl-C in a terminal
    assert proc.wait(timeout=60) == 130
    reader.join(timeout=10)
    said = [t for t, line in lines if "interrupted: the rows computed so far are saved" in line]
    # the rest of the exit is the interpreter unloading torch, the same for every command
    assert said and said[0] - sent < 2.0, lines  # the old join timeout alone was 5 s
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # no decoding worker is left behind
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("decoding workers outlived the interrupted run")
    assert len(PartStore(out).finished_ids()) == 3  # every row explained before the signal was kept
    result = CliRunner().invoke(main, _cli(dataset, out, "--part-size", "5"))
    assert result.exit_code == 0, result.output
    assert_same_rows(out, reference_report)


def test_several_kills_at_random_points_then_resume_equal_an_uninterrupted_run(dataset, reference_report, tmp_path):
    import random

    rng = random.Random(13)
    out = tmp_path / "killed"
    args = _cli(dataset, out, "--part-size", "1")
    args[args.index("--batch-size") + 1] = "1"
    done = 0
    for attempt in range(3):
        marker = tmp_path / f"held-{attempt}"
        proc = _start_held(args, rng.randint(1, 3), marker)
        _wait_until_held(proc, marker)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        now = len(PartStore(out).finished_ids())
        assert now > done  # each run added its rows before the kill
        done = now
    assert 0 < done < 24
    result = CliRunner().invoke(main, _cli(dataset, out, "--part-size", "3"))
    assert result.exit_code == 0, result.output
    assert_same_rows(out, reference_report)
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("field,options", [("model_options", {"bogus": 1}), ("explainer_options", {"bogus": 1}),
                                           ("segmenter_options", {"bogus": 1})])
def test_an_engine_that_builds_elsewhere_still_refuses_bad_options_before_binding(tmp_path, field, options):
    # the Ray driver builds no model or segmenter; their options are checked against what the
    # plugins declare before the folder is bound (no Ray is started for a refused run)
    from geoxai.options import OptionError
    from geoxai.report.config import ReportConfig
    from geoxai.report.pipeline import RunOptions, run_report

    dataset = make_dataset(tmp_path / "data", n=2)
    config = ReportConfig(model="tiny", explainer="gradcam", segmenter="tiny", **{field: options})
    with pytest.raises(OptionError, match="bogus"):
        run_report(config, dataset, tmp_path / "out", RunOptions(engine="ray", progress=False))
    assert not (tmp_path / "out" / "config.json").exists()
