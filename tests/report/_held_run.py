"""Run ``geoxai`` in a child process that holds still at a known point, so a test can signal it
there whatever the machine's speed (a fast idle CPU used to finish the whole report before the
signal arrived).

Usage: ``python _held_run.py HOLD_AFTER MARKER geoxai-arguments...``: the first HOLD_AFTER
explainer calls run normally; the next one touches MARKER and then waits forever (until the
test sends SIGINT or SIGKILL). Each part is committed before the next batch is computed (the
writer thread is waited for), so when MARKER appears every row of the earlier calls is on disk:
a busy machine's slow fsync cannot make a kill lose a part the test counts on.

``start_held`` and ``wait_until_held`` are the tests' side.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[2]


def hold_explainer_after(calls_allowed: int, marker: Path) -> None:
    """Hold the report tests' explainer (gradcam) on its call number ``calls_allowed + 1``."""
    from geoxai.explainers.gradcam import GradCAM
    from geoxai.jobs.run import PartWriter

    original = GradCAM.explain
    calls = 0

    def held(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls > calls_allowed:
            marker.touch()
            while True:  # a KeyboardInterrupt (SIGINT) or SIGKILL ends this
                time.sleep(0.05)
        return original(self, *args, **kwargs)

    flush = PartWriter.flush

    def committed_flush(self) -> None:
        flush(self)
        self.wait()

    GradCAM.explain = held  # type: ignore[method-assign]
    PartWriter.flush = committed_flush  # type: ignore[method-assign]


def child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                OMP_NUM_THREADS="1")


def start_held(args: list[str], hold_after: int, marker: Path) -> subprocess.Popen:
    """``geoxai ARGS`` in a child process (its own process group) that stops at its explainer call
    ``hold_after + 1`` and waits there."""
    return subprocess.Popen([sys.executable, __file__, str(hold_after), str(marker), *args], env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def wait_until_held(proc: subprocess.Popen, marker: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if marker.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"the run ended or stalled before it was held: {proc.stderr.read().decode()[-800:]}")


if __name__ == "__main__":
    hold_explainer_after(int(sys.argv[1]), Path(sys.argv[2]))
    from geoxai.cli import main

    main(sys.argv[3:], prog_name="geoxai")
