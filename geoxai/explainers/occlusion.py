"""Occlusion (Zeiler & Fergus 2014): slide a window over the photo, hide what it covers, rescore.

The relevance of a pixel is how much the score drops when it is hidden (clean score minus the
score of the copy with the window filled), averaged over the windows that cover it: captum's
``Occlusion`` with ``sliding_window_shapes=(3, window, window)``, ``strides=(3, stride, stride)``
and the fill as its baseline (equal in float64, see the tests). Where the strides do not end on
the image's edge, one more window is placed against the edge so that every pixel is covered
(captum leaves those pixels uncovered). Cost: one call per window, ``((side - window) / stride + 1)²``;
the defaults (a quarter of the side, half-overlapping) make 49 calls for any square view.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .perturbation import ImageScorer, PerturbationExplainer, PerturbationOptions


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets along one axis: every ``stride``, plus one against the far edge if needed."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


class Occlusion(PerturbationExplainer):
    name = "occlusion"

    @dataclass(frozen=True)
    class Options(PerturbationOptions):
        window: int | None = None   # side of the square window in pixels; None: a quarter of the view's side
        stride: int | None = None   # step between windows; None: half the window

    def attribute(self, scorer: ImageScorer, opts: Any, segmentation: torch.Tensor | None
                  ) -> tuple[torch.Tensor, dict[str, Any]]:
        height, width = scorer.size
        window = opts.window if opts.window is not None else max(1, min(height, width) // 4)
        stride = opts.stride if opts.stride is not None else max(1, window // 2)
        if not 1 <= window <= min(height, width) or stride < 1:
            raise ValueError(f"explainer 'occlusion': window must be 1..{min(height, width)} and stride >= 1, "
                             f"got window={window}, stride={stride}")
        boxes = [(top, left) for top in window_starts(height, window, stride)
                 for left in window_starts(width, window, stride)]
        drop = torch.zeros(height, width, dtype=torch.float64)
        count = torch.zeros(height, width, dtype=torch.float64)
        for start in range(0, len(boxes), opts.batch_size):
            chunk = boxes[start:start + opts.batch_size]
            keep = torch.ones(len(chunk), height, width, dtype=torch.float64)
            for i, (top, left) in enumerate(chunk):
                keep[i, top:top + window, left:left + window] = 0
            scores = torch.from_numpy(scorer(keep))
            hidden = 1 - keep
            drop += ((scorer.clean_score - scores)[:, None, None] * hidden).sum(0)
            count += hidden.sum(0)
        return drop / count, {"window": window, "stride": stride, "windows": len(boxes)}
