"""Your own model by name: ``--model package.module:Class`` on the command line, ``geoxai.register``
in Python, and an explainer called on your model object directly."""
import json
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

import geoxai
from geoxai.cli import main
from geoxai.testing import synthetic_photo

CITYNET = '''
from geoxai.testing import TinyGeoModel

LOADED = []


class CityNet(TinyGeoModel):
    """A user's own model: the tiny test network under another name."""
    name = "citynet"

    def __init__(self, seed: int = 3):
        LOADED.append(seed)
        super().__init__(seed=seed)
'''


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    (tmp_path / "citynet.py").write_text(CITYNET)
    (tmp_path / "photos").mkdir()
    for i in range(2):
        Image.fromarray(synthetic_photo(i)).save(tmp_path / "photos" / f"p{i}.png")
    monkeypatch.chdir(tmp_path)  # the module is found in the current folder, as with python -m
    yield tmp_path
    sys.modules.pop("citynet", None)


def test_explain_with_a_module_class_model_from_the_current_folder(user_folder):
    result = CliRunner().invoke(main, ["explain", "-m", "citynet:CityNet", "-e", "gradcam", "photos",
                                       "--out", "out", "--model-option", "seed=5"])
    assert result.exit_code == 0, result.output
    doc = json.loads((user_folder / "out" / "p0.json").read_text())
    assert doc["model"] == "citynet:CityNet"
    assert sys.modules["citynet"].LOADED == [5]
    expected = geoxai.load_model("citynet:CityNet", seed=5).predict(
        geoxai.load_model("citynet:CityNet", seed=5).prepare([synthetic_photo(0)]))[0]
    assert doc["prediction"]["label"] == expected.label


def test_report_with_a_module_class_model(user_folder):
    lines = ["image,lat,lon,id"] + [f"photos/p{i}.png,{10 * i},{20 * i},img{i}" for i in range(2)]
    (user_folder / "data.csv").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["report", "--model", "citynet:CityNet", "--explainer", "gradcam",
                                       "--segmenter", "tiny", "--k", "50", "--min-images", "1", "--data", "data.csv",
                                       "--out", "rep", "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (user_folder / "rep" / "report.html").exists()


def test_a_name_that_cannot_be_imported_is_a_one_line_error(user_folder):
    for name, why in (("citynet:Nope", "cannot import it (AttributeError"), ("no_such_module:X", "cannot import it"),
                      ("citynet:", "must be package.module:Class"), ("os:path; rm", "must be package.module:Class")):
        result = CliRunner().invoke(main, ["explain", "-m", name, "photos", "--out", "o"])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert why in result.output and f"model {name!r}" in result.output


def test_register_then_load_by_name_and_explain_the_object_directly():
    from geoxai.testing import TinyGeoModel

    class CityNet(TinyGeoModel):
        pass

    geoxai.register("model", "citynet", CityNet, description="my model")
    model = geoxai.load_model("citynet", seed=1)
    assert isinstance(model, CityNet)
    assert any(row["name"] == "citynet" and row["distribution"] == "user code"
               for row in geoxai.available()["models"])
    batch = model.prepare([synthetic_photo(0)])
    maps = geoxai.load_explainer("gradcam").explain(CityNet(), batch)  # no registration needed
    assert tuple(maps.shape) == (1, *batch.pixels.shape[-2:])
    with pytest.raises(ValueError, match="the kinds are model"):
        geoxai.register("modle", "x", CityNet)


def test_the_registry_never_imports_a_module_class_name_by_itself():
    """Only the command line imports code named ``module:Class``; a name that reaches the registry
    from elsewhere (the app, a file) is just an unknown name."""
    with pytest.raises(geoxai.plugins.UnknownPluginError):
        geoxai.load_model("citynet:CityNet")
    assert "citynet" not in sys.modules
