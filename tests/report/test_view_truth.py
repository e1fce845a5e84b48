"""One truth for the view (issue 23 item 5): the Ray driver decodes with the view the registry
reports for the plugin and its options (no model built); the local engine with the built model's
view. For a plugin whose view is not the default they are the same view and decode the very same
pixels; a plugin whose built view differs from its declared one is refused at build."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from geoxai import plugins
from geoxai.jobs import loading
from geoxai.jobs.ray_engine import decoded_dataset
from geoxai.report.config import ReportConfig
from geoxai.report.worker import load_report_model, report_model_spec
from geoxai.testing import TinyGeoModel
from geoxai.views import ViewConfig

ODD = ViewConfig(input_size=40, resize_size=52, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                 interpolation="bicubic", test_time_crops="five")


class OddView(TinyGeoModel):
    """A plugin with a view of its own (size, normalisation, interpolation, crops), declared as data."""

    name = "odd-view"
    view_config = ODD

    @classmethod
    def view_config_for(cls, seed: int = 0, stretch: int = 0, **_: object) -> ViewConfig:
        return ODD.replace(resize_size=ODD.resize_size + stretch)

    def __init__(self, seed: int = 0, stretch: int = 0) -> None:
        super().__init__(seed=seed, input_size=ODD.input_size)
        self.view_config = self.view_config_for(seed, stretch)


class SizeInInit(TinyGeoModel):
    """The mistake the plugin guide once taught: the size set in __init__, the class declaring another."""

    name = "size-in-init"
    view_config = ODD

    @classmethod
    def view_config_for(cls, **_: object) -> ViewConfig:
        return ODD

    def __init__(self) -> None:
        super().__init__()
        self.view_config = ViewConfig.for_crop(32)


@pytest.fixture
def registered():
    for name, factory in (("odd-view", OddView), ("size-in-init", SizeInInit)):
        plugins.registry().entries["model"][name] = plugins.Registration("model", name, factory, "test")


def test_ray_driver_and_local_engine_decode_the_same_pixels(registered, photo_files, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'geoxai[ray]')")
    (tmp_path / "broken.jpg").write_bytes(b"no image")
    files = [*photo_files, tmp_path / "broken.jpg"]
    samples = [SimpleNamespace(id=f"s{i}", image=p, lat=0.0, lon=0.0) for i, p in enumerate(files)]
    config = ReportConfig(model="odd-view", explainer="gradcam", segmenter="tiny", model_options={"stretch": 3})

    model = load_report_model(config)  # the local engine's model (its build checks the view)
    loader = loading.data_loader(samples, loading.view_function(model), len(samples), 0,
                                 test_time=loading.test_time_function(model))
    local = {r["image_id"]: r for r in next(iter(loader))}

    # the driver reads the view from the class: building a model here fails
    monkeypatch.setattr(OddView, "__init__", lambda *a, **k: pytest.fail("the Ray driver built the model"))
    view = report_model_spec(config).driver_view()
    assert view == model.view_config and view.input_size == 40 and view.resize_size == 55 and view != ViewConfig()
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        rows = decoded_dataset(ray, samples, view, batch_size=2, test_time=True).take_all()
    finally:
        ray.shutdown()
    assert sorted(r["image_id"] for r in rows) == sorted(local)
    for row in rows:
        mine = local[row["image_id"]]
        if mine["error"] is not None:  # the broken file fails the same way in both
            assert row["error"] == mine["error"]
            continue
        assert row["error"] == "" and row["pixels"].shape == (3, 40, 40)
        assert np.array_equal(row["pixels"], mine["pixels"])
        assert np.array_equal(row["test_time_pixels"], mine["test_time_pixels"])  # five crops, byte-equal


def test_a_model_whose_built_view_is_not_its_declared_view_is_refused_on_one_line(registered):
    config = ReportConfig(model="size-in-init", explainer="gradcam", segmenter="tiny")
    with pytest.raises(ValueError) as caught:
        load_report_model(config)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("model 'size-in-init': the built model's view differs")
    assert "input_size: built 32, declared 40" in message
