"""The StreetCLIP plugin's tests run offline on a random tiny CLIP, in their own GEOXAI_HOME."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path_factory.getbasetemp() / "geoxai-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub must never be asked during tests
