"""Fixtures every test can use: the tiny random-weight model and segmenter, synthetic photos."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geoxai.testing import TinyGeoModel, TinySegmenter, synthetic_photo


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: each test session gets its own GEOXAI_HOME."""
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path_factory.getbasetemp() / "geoxai-home"))


@pytest.fixture(autouse=True)
def _restored_plugin_registry():
    """Whatever a test registers (register_plugin, reload after an install) is gone after it."""
    from geoxai import plugins

    with plugins.isolated():
        yield


@pytest.fixture
def tiny_model() -> TinyGeoModel:
    return TinyGeoModel(seed=0)


@pytest.fixture
def tiny_segmenter() -> TinySegmenter:
    return TinySegmenter(seed=0)


@pytest.fixture
def photos() -> list[np.ndarray]:
    return [synthetic_photo(seed=i, height=90 + 7 * i, width=120 + 5 * i) for i in range(4)]


@pytest.fixture
def tiny_batch(tiny_model, photos):
    return tiny_model.prepare(photos, ids=[f"img{i}" for i in range(len(photos))])


@pytest.fixture
def photo_files(tmp_path, photos):
    from PIL import Image

    paths = []
    for i, im in enumerate(photos):
        p = tmp_path / f"photo{i}.jpg"
        Image.fromarray(im).save(p, quality=95)
        paths.append(p)
    return paths


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    np.random.seed(0)
