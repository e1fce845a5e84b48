"""Shards merged equal one run; the Ray engine's rows equal the local engine's."""
import json

import pytest
from _report_helpers import BASE_ARGS, assert_same_rows
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.report.config import parse_shard


def _run(dataset, out, *extra):
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out),
                                       "--workers", "0", "--batch-size", "4", "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return result


def test_sharded_runs_merged_equal_a_single_run(dataset, reference_report, tmp_path):
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, out in enumerate(shards):
        _run(dataset, out, "--shard", f"{i}/3")
        assert len((out / "manifest.txt").read_text().split()) == 8
    merged = tmp_path / "merged"
    result = CliRunner().invoke(main, ["report", "merge", *map(str, shards), "--out", str(merged),
                                       "--min-images", "2"])
    assert result.exit_code == 0, result.output
    assert "images (GCD<=750km)" in result.output
    assert_same_rows(merged, reference_report)
    a = json.loads((merged / "summary.json").read_text())
    b = json.loads((reference_report / "summary.json").read_text())
    assert a["counts"] == b["counts"] and a["accuracy"] == b["accuracy"]
    assert (merged / "summary.csv").read_text() == (reference_report / "summary.csv").read_text()
    # merging again adds nothing
    result = CliRunner().invoke(main, ["report", "merge", *map(str, shards), "--out", str(merged), "--quiet"])
    assert result.exit_code == 0, result.output
    assert_same_rows(merged, reference_report)


def test_merge_refuses_different_configurations(reference_report, tmp_path):
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(reference_report, a)
    shutil.copytree(reference_report, b)
    config = json.loads((b / "config.json").read_text())
    config["k"] = 200
    (b / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["report", "merge", str(a), str(b), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and "different configuration" in result.output and "differs in k" in result.output


def test_merge_refuses_the_same_image_from_two_folders_with_other_rows(reference_report, tmp_path):
    import shutil


    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(reference_report, a)
    shutil.copytree(reference_report, b)
    for part in (b / "images").glob("part-*.parquet"):  # same images, other part names
        part.rename(part.with_name(part.name.replace("part-", "part-x")))
    for part in (b / "concepts").glob("part-*.parquet"):
        part.rename(part.with_name(part.name.replace("part-", "part-x")))
    result = CliRunner().invoke(main, ["report", "merge", str(a), str(b), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and "is in both" in result.output


def test_shard_spec_and_torchrun_environment():
    assert parse_shard("2/5") == (2, 5)
    assert parse_shard(None, {"RANK": "1", "WORLD_SIZE": "4"}) == (1, 4)
    assert parse_shard(None, {}) == (0, 1)
    for bad in ("5/5", "x/2", "1", "-1/3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_ray_engine_rows_equal_local_engine(dataset, reference_report, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'geoxai[ray]')")
    from geoxai.testing import TinyGeoModel

    # The driver learns the view from the model's class: building a model here would fail (the
    # actors, in processes of their own, build theirs as usual).
    monkeypatch.setattr(TinyGeoModel, "__init__", lambda *a, **k: pytest.fail("the Ray driver built the model"))
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        _run(dataset, out, "--engine", "ray", "--replicas", "1", "--part-size", "5", "--examples", "2")
    finally:
        ray.shutdown()
    assert_same_rows(out, reference_report)
    # the example figures come from the data the actors shipped: the driver built no model for them
    assert len(list((out / "examples").glob("*.png"))) == 2
