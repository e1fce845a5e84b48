"""Report and quality are two kinds of one job framework (issue 23 item 3): an engine a plugin
registers runs both, and quality rows do not depend on the batch boundaries."""
from __future__ import annotations

from _report_helpers import make_dataset
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.hookspecs import hookimpl
from geoxai.jobs.local import LocalEngine


class RecordingEngine(LocalEngine):
    """A third-party engine: the local one, noting which job kinds it ran."""

    name = "recording"
    ran: list[str] = []

    def run(self, job, pending, store, options, components=None):
        RecordingEngine.ran.append(type(job).__name__)
        return super().run(job, pending, store, options, components=components)


class EnginePlugin:
    @hookimpl
    def register_engines(self, register):
        register("recording", RecordingEngine, description="the local engine, recording its jobs")


QUALITY = ["quality", "--model", "tiny", "-e", "gradcam", "--steps", "2", "--sanity-stages", "1", "--no-baselines",
           "--k", "100", "--quiet"]


def test_an_engine_plugin_runs_report_and_quality_jobs(tmp_path):
    from geoxai.plugins import register_plugin

    register_plugin(EnginePlugin(), "geoxai-recording")
    RecordingEngine.ran.clear()
    dataset = make_dataset(tmp_path / "data", n=2)
    report = CliRunner().invoke(main, ["report", "--model", "tiny", "--explainer", "gradcam", "--segmenter", "tiny",
                                       "--data", str(dataset), "--out", str(tmp_path / "r"), "--min-images", "1",
                                       "--workers", "0", "--quiet", "--engine", "recording"])
    assert report.exit_code == 0, report.output
    quality = CliRunner().invoke(main, [*QUALITY, "--data", str(dataset), "--out", str(tmp_path / "q"),
                                        "--engine", "recording"])
    assert quality.exit_code == 0, quality.output
    assert RecordingEngine.ran == ["ReportJob", "QualityJob"]
    unknown = CliRunner().invoke(main, [*QUALITY, "--data", str(dataset), "--out", str(tmp_path / "u"),
                                        "--engine", "no-such-engine"])
    assert unknown.exit_code != 0 and "no-such-engine" in unknown.output and not (tmp_path / "u").exists()


def test_quality_rows_do_not_depend_on_the_batch_size(tmp_path):
    from geoxai.quality.store import QualityStore

    dataset = make_dataset(tmp_path / "data", n=3)
    outs = {}
    for size in ("1", "3"):
        outs[size] = tmp_path / f"b{size}"
        result = CliRunner().invoke(main, [*QUALITY, "--data", str(dataset), "--out", str(outs[size]),
                                           "--batch-size", size])
        assert result.exit_code == 0, result.output
    rows = [QualityStore(o / "gradcam").read_images().drop(columns="shard") for o in outs.values()]
    assert rows[0].equals(rows[1])
