"""Shards merged equal one run; the Ray engine's rows equal the local engine's."""
import json

import pytest
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.report.config import parse_shard

from _report_helpers import BASE_ARGS, assert_same_rows


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


def test_merge_refuses_different_configurations(dataset, tmp_path):
    _run(dataset, tmp_path / "a", "--shard", "0/2")
    _run(dataset, tmp_path / "b", "--shard", "1/2", "--k", "200")
    result = CliRunner().invoke(main, ["report", "merge", str(tmp_path / "a"), str(tmp_path / "b"),
                                       "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and "different configuration" in result.output and "k" in result.output


def test_shard_spec_and_torchrun_environment():
    assert parse_shard("2/5") == (2, 5)
    assert parse_shard(None, {"RANK": "1", "WORLD_SIZE": "4"}) == (1, 4)
    assert parse_shard(None, {}) == (0, 1)
    for bad in ("5/5", "x/2", "1", "-1/3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_ray_engine_rows_equal_local_engine(dataset, reference_report, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'geoxai[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        _run(dataset, out, "--engine", "ray", "--replicas", "1")
    finally:
        ray.shutdown()
    assert_same_rows(out, reference_report)
