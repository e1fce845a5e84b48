"""Concept Shapley values: how much each concept of the segmentation holds up the answer.

The players are the concepts present in the image's segmentation (``segmentation=``, LongTensor
[B, H, W] of concept indices at the view's size; ``-s NAME`` on the command line). Up to
``max_exact`` concepts the values are exact (every coalition: 2^n calls; equal to captum's
``ShapleyValues`` with the segmentation as feature mask and the fill as baseline); beyond, they
are sampled with antithetic permutations within ``max_calls`` calls, and the info carries the
standard error (``normalised_stderr``: the largest one over the sum of |values|). Every pixel of
a concept gets the concept's value (captum's convention), so the map is centred: a concept that
does not matter gets about 0. The info lists each concept's value, share and the km the answer
moves when that concept alone is removed (``geoxai.concept_shapley``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..concept_shapley import CoalitionGame, exact_shapley, perturbation_influence, sampled_shapley
from .perturbation import ImageScorer, PerturbationExplainer, PerturbationOptions


class ConceptShap(PerturbationExplainer):
    name = "concept-shap"
    needs_segmentation = True

    @dataclass(frozen=True)
    class Options(PerturbationOptions):
        max_exact: int = 10     # exact Shapley values up to this many concepts (2^n calls)
        max_calls: int = 128    # the call budget of the sampled estimate beyond max_exact

    def attribute(self, scorer: ImageScorer, opts: Any, segmentation: torch.Tensor | None
                  ) -> tuple[torch.Tensor, dict[str, Any]]:
        assert segmentation is not None  # checked by explain_with_info
        labels = segmentation.to(torch.long).cpu()
        if tuple(labels.shape) != scorer.size:
            raise ValueError(f"explainer 'concept-shap': segmentation {tuple(labels.shape)} does not match the "
                             f"view {scorer.size}")
        concepts, inverse, pixels = torch.unique(labels, return_inverse=True, return_counts=True)
        n = len(concepts)
        one_hot = torch.nn.functional.one_hot(inverse, n).permute(2, 0, 1).double()  # [n, H, W]

        def evaluate(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            keep = torch.einsum("mn,nhw->mhw", torch.from_numpy(members).double(), one_hot)
            return scorer.score_with_km(keep)

        game = CoalitionGame(n, evaluate)
        if n <= opts.max_exact:
            estimate = exact_shapley(game)
        else:
            if opts.max_calls < 2 * n + 2:
                raise ValueError(f"explainer 'concept-shap': max_calls={opts.max_calls} is too small for {n} "
                                 f"concepts (at least {2 * n + 2})")
            estimate = sampled_shapley(game, opts.max_calls - n, seed=opts.seed)  # n calls left for km_removed
        game.ask([game.everyone & ~(1 << i) for i in range(n)])
        km_removed = [game.km(game.everyone & ~(1 << i)) for i in range(n)]
        heat = torch.from_numpy(estimate.values)[inverse]
        return heat, {
            "mode": "sampled" if estimate.stderr is not None else "exact",
            "concepts": perturbation_influence(concepts.tolist(), estimate, km_removed, pixels.tolist()),
            "permutations": estimate.permutations, "normalised_stderr": estimate.normalised_stderr,
            "empty_score": game.value(0), "full_score": game.value(game.everyone),
        }
