"""Progress of ``report`` and ``quality`` (issue 23 item 4): done/total images on stderr, updated
as each image is done (also inside a batch), plain ``N/N`` lines when stderr is a file, nothing
with ``--quiet``, and a line for each slow start-up step."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from _report_helpers import make_dataset
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.progress import Progress


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("progress-data"), n=3)


QUALITY = ["quality", "--model", "tiny", "-e", "gradcam", "--steps", "2", "--sanity-stages", "-1", "--no-baselines",
           "--batch-size", "3", "--k", "100"]
REPORT = ["report", "--model", "tiny", "--explainer", "gradcam", "--segmenter", "tiny", "--k", "100",
          "--min-images", "1", "--workers", "0", "--batch-size", "2"]


@pytest.mark.parametrize("args,label", [(QUALITY, "quality gradcam"), (REPORT, "report")], ids=["quality", "report"])
def test_stderr_that_is_a_file_shows_done_of_total_and_quiet_hides_it(dataset, tmp_path, args, label):
    result = CliRunner().invoke(main, [*args, "--data", str(dataset), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    command = label.split()[0]  # the slow start-up says what it does
    assert any(line.startswith(f"{command}: loading model 'tiny' (and its weights)") for line in lines), lines
    counts = [line.split(": ")[1].split(" images")[0] for line in lines if line.startswith(f"{label}: ")
              and " images" in line]
    assert counts[0] == "0/3" and counts[-1] == "3/3", lines
    assert "\r" not in result.stderr  # plain lines in a file, no terminal redraws
    quiet = CliRunner().invoke(main, [*args, "--data", str(dataset), "--out", str(tmp_path / "quiet"), "--quiet"])
    assert quiet.exit_code == 0 and "images" not in quiet.stderr and "loading" not in quiet.stderr, quiet.stderr


def test_the_quality_worker_reports_each_image_before_it_explains_the_next(dataset, tmp_path):
    # five photos in one batch sat at 0/5 for the whole batch: now each image is reported as it is done
    from geoxai.jobs.loading import decode
    from geoxai.plugins import load_model
    from geoxai.quality.store import QualityConfig
    from geoxai.quality.worker import ExplainerSpec, QualityOptions, QualityWorker
    from geoxai.report.config import ReportConfig
    from geoxai.report.pipeline import read_report_samples

    model = load_model("tiny")
    samples = read_report_samples(ReportConfig(model="tiny", explainer="gradcam", segmenter="tiny"), dataset)
    records = [decode(s, model.view_config) for s in samples]
    worker = QualityWorker(model, QualityConfig(model="tiny", steps=2, sanity_stages=-1), ExplainerSpec("gradcam"),
                           QualityOptions(progress=False))
    events: list[str] = []
    explain = worker.explainer.explain
    worker.explainer.explain = lambda *a, **k: (events.append("explain"), explain(*a, **k))[1]
    rows, _ = worker.process(records, on_image=lambda: events.append("done"))
    assert events == ["explain", "done"] * 3
    assert len(rows) == 3


def test_the_report_worker_reports_every_row(dataset):
    from geoxai.jobs.loading import decode
    from geoxai.report.config import ReportConfig
    from geoxai.report.pipeline import read_report_samples
    from geoxai.report.worker import ReportWorker

    config = ReportConfig(model="tiny", explainer="gradcam", segmenter="tiny", k=100)
    worker = ReportWorker(config, device="cpu")
    samples = read_report_samples(config, dataset)
    records = [decode(s, worker.model.view_config) for s in samples]
    records[1] = dict(records[1], pixels=None, error="broken")
    done = []
    rows, _ = worker.process(records, on_image=lambda: done.append(1))
    assert len(done) == len(rows) == 3


def test_progress_in_a_file_writes_the_first_and_last_count_and_at_most_one_line_per_interval():
    stream = io.StringIO()
    with Progress(5, "job", stream=stream, interval=3600) as progress:
        progress.status("starting")
        for _ in range(5):
            progress.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "job: 0/5 images" and lines[1] == "job: starting"
    assert [line.split(" (")[0] for line in lines[2:]] == ["job: 1/5 images", "job: 5/5 images"]
    stream = io.StringIO()
    with Progress(3, "job", stream=stream, interval=0) as progress:  # a slow job: a line per image
        for _ in range(3):
            progress.advance()
    assert [line.split(" (")[0] for line in stream.getvalue().splitlines()] == [
        "job: 0/3 images", "job: 1/3 images", "job: 2/3 images", "job: 3/3 images"]


def test_progress_on_a_terminal_redraws_one_line_and_disabled_prints_nothing():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with Progress(2, "job", stream=stream) as progress:
        progress.advance()
        progress.advance()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 3 and "job: 2/2 images" in text and text.endswith("\n")
    silent = io.StringIO()
    with Progress(2, "job", stream=silent, enabled=False) as progress:
        progress.status("loading")
        progress.advance(2)
    assert silent.getvalue() == ""


def noting(explainer, word: str):
    """``explainer`` with ``word`` written to stderr before each of its calls."""
    explain = explainer.explain_with_info

    def noted(*args, **kwargs):
        print(word, file=sys.stderr)
        return explain(*args, **kwargs)

    explainer.explain_with_info = noted
    return explainer


@pytest.mark.parametrize("shapley", [False, True], ids=["gradcam", "gradcam+shapley"])
def test_per_image_progress_inside_a_batch(dataset, tmp_path, monkeypatch, capsys, shapley):
    """Each image's count is written before the next image of the same batch is explained (with
    --shapley: when its Shapley values, the slow part, are done)."""
    import geoxai.jobs.local as local
    import geoxai.report.worker as worker
    from geoxai.progress import Progress
    from geoxai.report.config import ReportConfig
    from geoxai.report.pipeline import RunOptions, run_report

    config = ReportConfig(model="tiny", explainer="gradcam", segmenter="tiny", segmenter_options={"num_concepts": 3},
                          shapley=shapley)
    model, explainer, segmenter = worker.load_components(config, "cpu")
    noting(explainer, "explaining")
    shapley_explainer = worker.shapley_explainer
    monkeypatch.setattr(worker, "shapley_explainer",
                        lambda config, explainer: None if not config.shapley else noting(
                            shapley_explainer(config, explainer), "shapley"))
    # every count on its own line (a log's lines are otherwise at most one per 10 s)
    monkeypatch.setattr(local, "job_progress", lambda job, pending, options: Progress(len(pending), job.label,
                                                                                      interval=0.0))
    run_report(config, dataset, tmp_path / "rep", RunOptions(batch_size=3, workers=0, progress=True),
               min_images=1, components=(model, explainer, segmenter))
    lines = [x for x in capsys.readouterr().err.splitlines() if x in ("explaining", "shapley")
             or x.startswith("report: ")]
    events = [x if x in ("explaining", "shapley") else x.split(": ")[1].split(" images")[0] for x in lines]
    if shapley:
        assert events == ["0/3"] + ["explaining"] * 3 + [e for i in range(1, 4) for e in ("shapley", f"{i}/3")]
    else:
        assert events == ["0/3"] + [e for i in range(1, 4) for e in ("explaining", f"{i}/3")]
