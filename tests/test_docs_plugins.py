"""The complete plugin of docs/plugins.md is real: its code blocks run, register through the
plugin hooks, keep ``geoxai.contract`` and import nothing from geoxai but public names."""
from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest
import torch

import geoxai
from geoxai import plugins

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
PUBLIC = {"geoxai", "geoxai.explainers.base", "geoxai.contract", "geoxai.views"}


def blocks(marker: str) -> list[str]:
    pattern = rf"<!-- {marker} -->\n```python\n(.*?)```"
    found = re.findall(pattern, DOC.read_text(encoding="utf-8"), flags=re.S)
    assert found, f"no {marker} block in {DOC}"
    return found


@pytest.fixture
def citylab():
    """The example plugin as an importable module, registered like an installed distribution."""
    module = types.ModuleType("geoxai_citylab")
    sys.modules[module.__name__] = module
    try:
        exec(compile("\n".join(blocks("plugin-example")), str(DOC), "exec"), module.__dict__)
        with plugins.isolated():
            plugins.register_plugin(module, "geoxai-citylab")
            yield module
    finally:
        del sys.modules[module.__name__]


def test_the_example_imports_only_public_geoxai_names():
    for code in blocks("plugin-example") + blocks("plugin-example-test"):
        for node in ast.walk(ast.parse(code)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                root = name.split(".")[0]
                assert root != "geoxai" or name in PUBLIC, f"docs/plugins.md example imports {name}"


def test_the_example_explainer_is_under_50_lines():
    code = blocks("plugin-example")[1]
    assert "class Saliency" in code and len(code.strip().splitlines()) < 50


def test_the_example_plugin_keeps_the_contract(citylab):
    namespace = {"geoxai": geoxai}
    exec(compile(blocks("plugin-example-test")[0], str(DOC), "exec"), namespace)
    namespace["test_citylab_keeps_the_contract"]()
    table = geoxai.available()
    for kind, name in (("models", "citynet"), ("explainers", "saliency"), ("segmenters", "colours")):
        row = next(r for r in table[kind] if r["name"] == name)
        assert row["distribution"] == "geoxai-citylab"


def test_the_example_explainer_is_the_gradient_and_checks_its_option(citylab, photos):
    model = geoxai.load_model("citynet")
    batch = model.prepare(photos[:2])
    x = model.as_input(batch).requires_grad_(True)
    logits = model(x)
    picked = logits.argmax(1)
    (grad,) = torch.autograd.grad(logits.gather(1, picked[:, None]).sum(), x)
    saliency = geoxai.load_explainer("saliency")
    torch.testing.assert_close(saliency.explain(model, batch), grad.abs().amax(1))
    torch.testing.assert_close(saliency.explain(model, batch, absolute=False), grad.amax(1))
    with pytest.raises(geoxai.OptionError, match="option absolute must be true or false, got 'no'; "
                                                 "accepted: absolute: bool = True"):
        geoxai.load_explainer("saliency", absolute="no")
    assert plugins.parse_plugin_options("explainer", "saliency", {"absolute": "false"}) == {"absolute": False}


def test_the_example_segmenter_labels_by_colour(citylab):
    pixels = torch.tensor([[30, 60, 200], [40, 180, 50], [120, 120, 120]], dtype=torch.uint8)
    image = pixels.T.reshape(1, 3, 1, 3)
    assert geoxai.load_segmenter("colours").segment(image).tolist() == [[[0, 1, 2]]]


def test_every_python_block_runs_top_to_bottom(tmp_path, monkeypatch, capsys):
    """What docs/plugins.md promises: its blocks run as written, in order, from an empty folder; the
    extension examples (section 11) print what their comments say."""
    monkeypatch.chdir(tmp_path)
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    module = types.ModuleType("plugins_md")  # a real module: dataclasses and type hints look it up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in code:
        if not block.startswith("# needs:"):
            exec(compile(block, str(DOC), "exec", dont_inherit=True), module.__dict__)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["(2, 64, 64)", "(2, 64, 64) (2, 64, 64)", "(2, 64, 64)",
                       "explainer 'occlusion': option stride must be >= 1, got 0",
                       "explainer 'occlusion': option fill must be >= -5 and <= 5, got 9.0",
                       "occlusion: stride 8 > window 4 skips pixels",
                       "(2, 64, 64) True", "20 BatchNorms folded", "20 False True"]


def test_the_extension_examples_import_only_public_modules():
    for marker in ("extension-cam", "extension-noise", "extension-options", "extension-bases"):
        for node in ast.walk(ast.parse(blocks(marker)[0])):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geoxai"):
                assert not any(part.startswith("_") for part in node.module.split(".")), node.module
