"""The quality worker scores each clean image once and hands those scores to every measure (the
map's predictions, the curves, the sanity check, the stability check), as the pipeline does."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geoxai.quality import sanity_check, stability
from geoxai.quality.store import QualityConfig
from geoxai.quality.worker import ExplainerSpec, QualityOptions, QualityWorker


class CleanForwards:
    """Counts the forward passes of ``model`` without autograd whose input is exactly ``x`` (the
    clean images; an explainer's own passes with gradients are not counted)."""

    def __init__(self, model: torch.nn.Module, x: torch.Tensor) -> None:
        self.x, self.count = x, 0
        self.handle = model.register_forward_pre_hook(self._seen)

    def _seen(self, module, args) -> None:
        given = args[0]
        if torch.is_grad_enabled() or given.requires_grad:
            return
        if given.shape == self.x.shape and torch.equal(given.detach().float(), self.x):
            self.count += 1


@pytest.mark.parametrize("explainer", [ExplainerSpec("gradcam"),
                                       ExplainerSpec("ig-smoothgrad", {"n_samples": 2, "n_steps": 2})])
def test_the_worker_forwards_each_clean_image_once(tiny_model, photos, explainer):
    records = [{"image_id": f"p{i}", "path": f"p{i}.jpg", "lat": 10.0, "lon": 20.0,
                "pixels": tiny_model.prepare([p], ids=["x"]).pixels[0].numpy()}  # [3, H, W] uint8
               for i, p in enumerate(photos[:3])]
    config = QualityConfig(model="tiny", steps=2, orders=("most",))
    worker = QualityWorker(tiny_model, config, explainer, QualityOptions(progress=False))
    from geoxai.types import ImageBatch

    seen = []
    for record in records:  # the worker computes image by image
        pixels = torch.from_numpy(np.asarray(record["pixels"])[None])
        x = tiny_model.as_input(ImageBatch(pixels, [record["image_id"]])).float()
        counter = CleanForwards(tiny_model, x)
        try:
            rows, _ = worker._compute([{"image_id": record["image_id"]}], [record])
        finally:
            counter.handle.remove()
        assert rows[0]["status"] == "ok" and rows[0]["sanity"] is not None
        seen.append(counter.count)
    # ig-smoothgrad's first call also probes the model's structure for BatchNorm folding (two
    # forward passes of the clean image, once per model: geoxai.explainers.batchnorm)
    assert seen[1:] == [1, 1] and seen[0] == (3 if explainer.name == "ig-smoothgrad" else 1)


def test_sanity_and_stability_use_given_clean_scores(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch).float()
    with torch.inference_mode():
        scores = tiny_model(x)
    counter = CleanForwards(tiny_model, x)
    try:
        given = sanity_check(tiny_model, "gradcam", tiny_batch, clean_scores=scores)
        assert counter.count == 0
        own = sanity_check(tiny_model, "gradcam", tiny_batch)
        assert counter.count == 1
    finally:
        counter.handle.remove()
    np.testing.assert_array_equal(given.spearman, own.spearman)
    ig = {"n_samples": 2, "n_steps": 2}
    from geoxai.plugins import load_explainer

    explainer = load_explainer("ig-smoothgrad", **ig)
    a = stability(tiny_model, explainer, tiny_batch, seeds=(0, 1), k=50, clean_scores=scores)
    b = stability(tiny_model, explainer, tiny_batch, seeds=(0, 1), k=50)
    np.testing.assert_array_equal(a.spearman, b.spearman)
    with pytest.raises(ValueError, match="clean_scores has 1 rows for"):
        stability(tiny_model, explainer, tiny_batch, seeds=(0, 1), clean_scores=scores[:1])
