"""The figure of an ``Explanation``: a thin adapter that builds ``explanation_figure``'s arguments
(the view as [H, W, 3], the map, the segmentation and ci scores, the prediction, the ground truth).

Without a segmenter the segmentation panel stays unlabelled and no ci is scored; the photo, the
map with its colour bar, the prediction and the top cells on the world map are always drawn."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .figure import explanation_figure


def figure_of(explanation: Any, path: str | os.PathLike) -> Path:
    """Write a ``geoxai.pipeline.Explanation``'s figure as a PNG at ``path`` (typed ``Any``: the
    pipeline imports this module, not the other way round)."""
    view = explanation.view.permute(1, 2, 0).cpu().numpy()
    if explanation.segmentation is not None and explanation.concepts is not None:
        segmentation, concepts = explanation.segmentation, explanation.concepts
    else:  # no segmenter: every pixel unlabelled
        segmentation, concepts = torch.full(tuple(explanation.map.shape), -1, dtype=torch.long), []
    k = explanation.ci_settings.k if explanation.ci_settings is not None else 1000
    return explanation_figure(view, explanation.map.float(), segmentation, concepts, explanation.ci or [],
                              explanation.prediction, ground_truth=explanation.ground_truth, k=k, path=path,
                              world_map=bool(explanation.prediction.top_k), regions=explanation.regions,
                              explainer=explanation.provenance.get("explainer"),
                              random_weights=explanation.random_weights)
