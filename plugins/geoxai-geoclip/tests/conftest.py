"""Fixtures for the GeoCLIP plugin's tests: a random tiny CLIP tower over a small gallery, offline."""
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path_factory.getbasetemp() / "geoxai-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub must never be asked during tests


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def geoclip_model():
    from geoxai_geoclip.model import GeoCLIPModel

    return GeoCLIPModel(backbone="tiny", gallery_size=400, seed=0)
