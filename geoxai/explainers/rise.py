"""RISE (Petsiuk, Das & Saenko, BMVC 2018): score the photo under random coarse masks.

Each mask is a random ``cells`` x ``cells`` grid whose cells are kept with probability ``keep``,
upsampled bilinearly to (cells + 1) cell sizes and cropped at a random shift (the paper's smooth
masks). The map is centred: a pixel's relevance is the mean score of the copies that keep it
minus the mean score of all copies (mask-weighted), i.e. E[score | pixel kept] - E[score], so a
pixel that does not matter gets about 0. Cost: ``n_masks`` calls; seeded by ``seed``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .perturbation import ImageScorer, PerturbationExplainer, PerturbationOptions


def rise_masks(count: int, size: tuple[int, int], cells: int, keep: float, generator: torch.Generator) -> torch.Tensor:
    """float64 [count, H, W] smooth random masks in [0, 1]."""
    height, width = size
    cell_h, cell_w = math.ceil(height / cells), math.ceil(width / cells)
    grid = (torch.rand(count, 1, cells, cells, generator=generator, dtype=torch.float64) < keep).double()
    up = F.interpolate(grid, size=((cells + 1) * cell_h, (cells + 1) * cell_w), mode="bilinear", align_corners=False)
    shift_y = torch.randint(0, cell_h, (count,), generator=generator).tolist()
    shift_x = torch.randint(0, cell_w, (count,), generator=generator).tolist()
    return torch.stack([up[i, 0, y:y + height, x:x + width] for i, (y, x) in enumerate(zip(shift_y, shift_x))])


class RISE(PerturbationExplainer):
    name = "rise"

    @dataclass(frozen=True)
    class Options(PerturbationOptions):
        n_masks: int = 64       # random masks = model calls
        cells: int = 4          # grid cells per side of a mask (coarse: converges within a small budget)
        keep: float = 0.5       # probability that a grid cell is kept

    def attribute(self, scorer: ImageScorer, opts: Any, segmentation: torch.Tensor | None
                  ) -> tuple[torch.Tensor, dict[str, Any]]:
        if opts.n_masks < 2 or opts.cells < 1 or not 0 < opts.keep < 1:
            raise ValueError(f"explainer 'rise': need n_masks >= 2, cells >= 1 and 0 < keep < 1, got "
                             f"n_masks={opts.n_masks}, cells={opts.cells}, keep={opts.keep}")
        generator = torch.Generator().manual_seed(int(opts.seed))
        weighted = torch.zeros(scorer.size, dtype=torch.float64)
        kept = torch.zeros(scorer.size, dtype=torch.float64)
        total, done = 0.0, 0
        while done < opts.n_masks:
            masks = rise_masks(min(opts.batch_size, opts.n_masks - done), scorer.size, opts.cells, opts.keep,
                               generator)
            scores = torch.from_numpy(scorer(masks))
            weighted += (scores[:, None, None] * masks).sum(0)
            kept += masks.sum(0)
            total += float(scores.sum())
            done += len(masks)
        mean = total / opts.n_masks
        heat = torch.where(kept > 0, weighted / kept.clamp_min(1e-12) - mean, torch.zeros_like(kept))
        return heat, {"n_masks": opts.n_masks, "mean_score": mean}
