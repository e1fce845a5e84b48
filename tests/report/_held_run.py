"""Run ``geoxai`` in a child process that holds still at a known point, so a test can signal it
there whatever the machine's speed (a fast idle CPU used to finish the whole report before the
signal arrived).

Usage: ``python _held_run.py HOLD_AFTER MARKER geoxai-arguments...``: the first HOLD_AFTER
explainer calls run normally; the next one touches MARKER and then waits forever (until the
test sends SIGINT or SIGKILL), so every row of the earlier calls has been handed to the writer.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path


def hold_explainer_after(calls_allowed: int, marker: Path) -> None:
    """Hold the report tests' explainer (gradcam) on its call number ``calls_allowed + 1``."""
    from geoxai.explainers.gradcam import GradCAM

    original = GradCAM.explain
    calls = 0

    def held(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls > calls_allowed:
            _written_so_far()
            marker.touch()
            while True:  # a KeyboardInterrupt (SIGINT) or SIGKILL ends this
                time.sleep(0.05)
        return original(self, *args, **kwargs)

    GradCAM.explain = held  # type: ignore[method-assign]


def _written_so_far() -> None:
    """Wait for the part writers' write in flight (a background thread), so the rows of every
    earlier call are on disk when the test looks, whatever runs between two explainer calls."""
    import gc

    from geoxai.report.pipeline import PartWriter

    for writer in [o for o in gc.get_objects() if isinstance(o, PartWriter)]:
        writer.wait()


if __name__ == "__main__":
    hold_explainer_after(int(sys.argv[1]), Path(sys.argv[2]))
    from geoxai.cli import main

    main(sys.argv[3:], prog_name="geoxai")
