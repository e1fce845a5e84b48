"""The plugin system: entry points, built-ins, throwaway third-party distributions, failures."""
import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import pytest

import geoxai
from geoxai import plugins
from geoxai.hookspecs import hookimpl
from geoxai.plugins import PluginConflictError, PluginWarning, Registry, UnknownPluginError, register_plugin


def test_builtins_come_from_geoxai_distribution():
    table = geoxai.available()
    assert set(table) == {"models", "explainers", "segmenters", "geocoders", "engines"}
    assert {r["name"] for r in table["geocoders"]} >= {"offline", "nominatim"}
    assert {r["name"] for r in table["engines"]} >= {"local", "ray"}
    tiny = [r for r in table["models"] if r["name"] == "tiny"]
    assert tiny and tiny[0]["distribution"] == "geoxai"
    model = geoxai.load_model("tiny", seed=3)
    assert isinstance(model, geoxai.GeoModel) and not model.training


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownPluginError, match=r"unknown model 'nope'; known models: .*tiny"):
        geoxai.load_model("nope")
    with pytest.raises(UnknownPluginError, match="unknown segmenter 'x'"):
        geoxai.load_segmenter("x")


class _Plugin:
    def __init__(self, name):
        self.name = name

    @hookimpl
    def register_models(self, register):
        register(self.name, "geoxai.testing:TinyGeoModel", description="lazy")


def test_same_name_from_two_distributions_is_an_error_naming_both():
    reg = Registry()
    register_plugin(_Plugin("dup"), "dist-one", registry=reg)
    with pytest.warns(PluginWarning, match="dist-one.*dist-two"):
        register_plugin(_Plugin("dup"), "dist-two", registry=reg)
    with pytest.raises(PluginConflictError, match="'dist-one' and 'dist-two'"):
        reg.get("model", "dup")


def test_plugin_that_raises_while_registering_is_a_warning():
    class Broken:
        @hookimpl
        def register_models(self, register):
            raise RuntimeError("boom")

    reg = Registry()
    with pytest.warns(PluginWarning, match="boom"):
        register_plugin(Broken(), "broken-dist", registry=reg)
    register_plugin(_Plugin("fine"), "ok-dist", registry=reg)
    assert reg.get("model", "fine").build(seed=1).name == "tiny"


def _write_dist(root, name, module_files, entry_points):
    (root / name).mkdir()
    for fname, text in module_files.items():
        (root / name / fname).write_text(textwrap.dedent(text))
    eps = "\n".join(f'{k} = "{v}"' for k, v in entry_points.items())
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{name.replace('_', '-')}"
        version = "0.0.1"
        [project.entry-points.geoxai]
        """) + eps + "\n" + f'[tool.setuptools]\npackages = ["{name}"]\n')


def _pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(600)
def test_throwaway_distribution_is_listed_then_removed_and_broken_module_only_warns(tmp_path, monkeypatch):
    """Installed into a temporary folder put on the path (never into the environment itself), so
    nothing is left behind for the next test, whatever happens here."""
    source, target = tmp_path / "src", tmp_path / "site"
    source.mkdir()
    _write_dist(source, "geoxai_throwaway_plugin", {
        "__init__.py": "",
        "good.py": """
            from geoxai import hookimpl
            from geoxai.testing import TinyGeoModel

            class ThrowawayModel(TinyGeoModel):
                name = "throwaway"

            @hookimpl
            def register_models(register):
                register("throwaway", ThrowawayModel, description="from a throwaway distribution")
        """,
        "broken.py": "raise ImportError('this plugin is broken on purpose')\n",
    }, {"good": "geoxai_throwaway_plugin.good", "broken": "geoxai_throwaway_plugin.broken"})
    result = _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(source))
    assert result.returncode == 0, result.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    cli = subprocess.run([sys.executable, "-m", "geoxai.cli", "plugins"], capture_output=True, text=True, env=env)
    assert cli.returncode == 0, cli.stderr
    assert "throwaway" in cli.stdout and "geoxai-throwaway-plugin" in cli.stdout
    assert "tiny" in cli.stdout  # built-ins still load
    assert "broken on purpose" in cli.stderr and "warning" in cli.stderr
    monkeypatch.syspath_prepend(str(target))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins.reload()
    assert any("broken on purpose" in str(w.message) for w in caught)
    assert geoxai.load_model("throwaway").name == "throwaway"
    monkeypatch.undo()
    shutil.rmtree(target)
    for name in [m for m in sys.modules if m.startswith("geoxai_throwaway_plugin")]:
        del sys.modules[name]
    plugins.reload()
    cli = subprocess.run([sys.executable, "-m", "geoxai.cli", "plugins"], capture_output=True, text=True)
    assert cli.returncode == 0 and "throwaway" not in cli.stdout
    with pytest.raises(UnknownPluginError):
        geoxai.load_model("throwaway")


def test_isolated_registry_forgets_what_was_registered_in_it():
    with plugins.isolated():
        register_plugin(_Plugin("only-inside"), "inside-dist")
        assert geoxai.load_model("only-inside").name == "tiny"
    with pytest.raises(UnknownPluginError):
        geoxai.load_model("only-inside")


def test_a_registration_in_one_test_a():
    register_plugin(_Plugin("leak-check"), "leak-dist")  # no clean-up here on purpose
    assert geoxai.load_model("leak-check").name == "tiny"


def test_a_registration_in_one_test_b_is_gone_in_the_next():
    # the autouse fixture in conftest.py gave the previous test its own copy of the registry
    with pytest.raises(UnknownPluginError):
        geoxai.load_model("leak-check")


def test_builtin_plugins_are_the_entry_points_geoxai_declares():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert declared["project"]["entry-points"]["geoxai"] == plugins.BUILTIN_PLUGINS


def test_builtins_register_even_when_the_install_metadata_is_stale(monkeypatch):
    # e.g. `pip install -e .` from before an entry point was added: only some built-ins listed
    from importlib.metadata import EntryPoint

    stale = [EntryPoint("models", "geoxai.models", "geoxai")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: stale)
    reg = plugins._build_registry()
    assert {"tiny", "s2"} <= set(reg.entries["model"]) and "local" in reg.entries["engine"]
    assert reg.get("geocoder", "offline").distribution == "geoxai"


def test_builtins_register_from_the_declared_modules_when_the_metadata_names_a_moved_one(monkeypatch):
    # an install made before the engines moved to geoxai.jobs.engines names geoxai.report.engines, now gone
    import importlib
    from importlib.metadata import EntryPoint

    stale = [EntryPoint(name, module, "geoxai") for name, module in plugins.BUILTIN_PLUGINS.items()]
    stale = [EntryPoint("engines", "geoxai.report.engines", "geoxai") if ep.name == "engines" else ep for ep in stale]
    monkeypatch.setattr(plugins, "entry_points", lambda group: stale)
    with warnings.catch_warnings():
        warnings.simplefilter("error", plugins.PluginWarning)
        reg = plugins._build_registry()
    assert {"local", "ray"} <= set(reg.entries["engine"]) and {"tiny", "s2"} <= set(reg.entries["model"])
    with pytest.raises(ImportError):
        importlib.import_module("geoxai.report.engines")  # the stub is gone: the name alone is resolved
    monkeypatch.undo()  # this environment's own metadata, stale or fresh: the built-ins are geoxai's, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", plugins.PluginWarning)
        reg = plugins._build_registry()
    assert reg.get("engine", "local").distribution == "geoxai"
