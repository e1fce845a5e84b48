"""Run ``geoxai app`` in a child process whose jobs hold still inside the explainer, so a test can
press Ctrl-C with a job known to be running, whatever the machine's speed.

Usage: ``python _held_app.py MARKER geoxai-app-arguments...``: every Grad-CAM call touches MARKER
and then waits until the process ends (the test's SIGINT must stop the app around it).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path


def hold_gradcam(marker: Path) -> None:
    from geoxai.explainers.gradcam import GradCAM

    def held(self, *args, **kwargs):
        marker.touch()
        while True:  # only the end of the process ends this
            time.sleep(0.05)

    GradCAM.explain = held  # type: ignore[method-assign]


if __name__ == "__main__":
    hold_gradcam(Path(sys.argv[1]))
    from geoxai.cli import main

    main(["app", *sys.argv[2:]], prog_name="geoxai")
