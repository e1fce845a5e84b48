"""Fixtures of the report tests: a generated dataset and one uninterrupted reference report."""
from __future__ import annotations

from pathlib import Path

import pytest
from _report_helpers import BASE_ARGS, make_dataset


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One torch thread: on a shared 2-core machine extra threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"), n=24)


@pytest.fixture(scope="session")
def reference_report(dataset, tmp_path_factory) -> Path:
    """An uninterrupted single local run everybody compares against."""
    from click.testing import CliRunner

    from geoxai.cli import main

    out = tmp_path_factory.mktemp("ref") / "report"
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out),
                                       "--workers", "0", "--batch-size", "4", "--part-size", "8", "--examples", "2",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    return out
