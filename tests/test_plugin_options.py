"""Declared options: unknown names and wrong types are one-line errors listing the accepted
options, in Python (explainers, every ``load_*``) and on the command line (strings converted)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import pytest
from click.testing import CliRunner

import geoxai
from geoxai.cli import main
from geoxai.explainers.base import BaseExplainer, OptionError, model_input, to_maps
from geoxai.explainers.gradcam import GradCAM
from geoxai.options import option_specs, parse_option_strings


@dataclass(frozen=True)
class _Opts:
    flag: bool = False
    count: int = 3
    scale: float = 0.5
    names: tuple[str, ...] | None = None
    weights: tuple[float, ...] = (1.0,)
    mode: Literal["a", "b"] = "a"
    layer: str | None = None


class _Declared(BaseExplainer):
    name = "declared"
    Options = _Opts

    def explain(self, model, images, target=None, **options):
        return to_maps(model_input(model, images).mean(1))


def test_strings_become_the_declared_types():
    specs = option_specs(_Declared)
    got = parse_option_strings("explainer 'declared'", specs, {
        "flag": "false", "count": "8", "scale": "2", "names": "a,b", "weights": "[1, 2.5]", "mode": "b",
        "layer": "3"})
    assert got == {"flag": False, "count": 8, "scale": 2.0, "names": ("a", "b"), "weights": (1.0, 2.5),
                   "mode": "b", "layer": "3"}
    assert type(got["scale"]) is float and type(got["count"]) is int
    assert parse_option_strings("x", specs, {"flag": "TRUE", "layer": "none"}) == {"flag": True, "layer": None}


@pytest.mark.parametrize("raw, message", [
    ({"flag": "maybe"}, "option flag must be true or false, got 'maybe'"),
    ({"count": "2.5"}, "option count must be int, got '2.5'"),
    ({"mode": "c"}, "option mode must be 'a' | 'b', got 'c'"),
    ({"weights": "1,x"}, "option weights must be tuple[float, ...], got '1,x'"),
    ({"bogus": "1"}, "has no option 'bogus'"),
])
def test_bad_strings_are_one_line_errors_listing_the_options(raw, message):
    with pytest.raises(OptionError) as info:
        parse_option_strings("explainer 'declared'", option_specs(_Declared), raw)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert "accepted: flag: bool = False, count: int = 3" in text


def test_python_values_are_checked_by_type_and_name():
    with pytest.raises(OptionError, match=r"explainer 'gradcam': option normalize must be true or false, "
                                          r"got 'false'; accepted: layer: str \| int \| None = None, normalize"):
        GradCAM(normalize="false")
    with pytest.raises(OptionError, match="option normalize must be true or false"):
        GradCAM().resolve(normalize="false")  # per-call overrides too
    with pytest.raises(OptionError, match="explainer 'gradcam' has no option 'normalise'; accepted: layer"):
        GradCAM(normalise=True)
    with pytest.raises(ValueError, match="count must be int, got True"):
        _Declared(count=True)  # a bool is not an int
    opts = _Declared(names=["x", "y"], scale=1).resolve(count=4)
    assert opts == _Opts(names=("x", "y"), scale=1.0, count=4)
    assert _Declared(flag=True).resolved_options()["flag"] is True


def test_defaults_dict_still_declares_options():
    class Legacy(BaseExplainer):
        name = "legacy"
        defaults = {"n": 2, "mode": "fast", "layer": None, "scale": 1.0, "on": False}

        def explain(self, model, images, target=None, **options):
            return to_maps(model_input(model, images).mean(1))

    assert Legacy.defaults == {"n": 2, "mode": "fast", "layer": None, "scale": 1.0, "on": False}
    assert Legacy(n=3).resolved_options(layer="x") == {"n": 3, "mode": "fast", "layer": "x", "scale": 1.0,
                                                       "on": False}
    with pytest.raises(OptionError, match="legacy' has no option 'm'; accepted: n: int = 2, mode: str"):
        Legacy(m=1)
    with pytest.raises(OptionError, match="option on must be true or false"):
        Legacy(on="no")
    assert parse_option_strings("x", option_specs(Legacy), {"n": "5", "on": "yes"}) == {"n": 5, "on": True}


def test_a_class_declared_options_object_must_be_a_dataclass():
    with pytest.raises(TypeError, match="must be a dataclass"):
        class Bad(BaseExplainer):  # noqa: F841
            class Options:
                n = 1


@pytest.mark.parametrize("load, name, accepted", [
    (geoxai.load_model, "tiny", "accepted: seed: int = 0, input_size: int >= 1 = 64"),
    (geoxai.load_explainer, "ig-smoothgrad", "accepted: n_samples: int >= 1 = 5"),
    (geoxai.load_segmenter, "tiny", "accepted: seed: int = 0, num_concepts: int >= 1 = 8"),
    (geoxai.load_geocoder, "offline", "accepted: batch_size: int >= 1 = 50000"),
    (geoxai.load_engine, "local", "it accepts no options"),
])
def test_every_load_refuses_an_unknown_option(load, name, accepted):
    with pytest.raises(OptionError) as info:
        load(name, bogus=1)
    text = str(info.value)
    assert f"{name!r} has no option 'bogus'" in text and accepted in text and "\n" not in text


def test_a_factory_taking_any_keyword_is_not_checked():
    from geoxai.plugins import Registration

    def anything(**options):
        return options

    assert Registration("model", "any", anything, "d").build(whatever=1) == {"whatever": 1}
    assert Registration("model", "any", anything, "d").parse_options({"n": "3", "s": "x"}) == {"n": 3, "s": "x"}


def _one_line_error(result, *fragments):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    # the random-weights notice of the tiny model is a line of its own, before the error
    lines = [line for line in result.output.strip().splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, result.output
    line = lines[0]
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_unknown_model_option(command, photo_files, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("image,lat,lon\n" + "".join(f"{p.name},41.4,2.2\n" for p in photo_files))
    target = [str(photo_files[0])] if command == "predict" else ["--data", str(data)]
    result = CliRunner().invoke(main, [command, "--model", "tiny", "--model-option", "bogus=1", *target])
    _one_line_error(result, "model 'tiny' has no option 'bogus'", "accepted: seed: int = 0")


def test_cli_explain_converts_and_checks_explainer_options(photo_files, tmp_path):
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "--model", "tiny", "-e", "gradcam",
                                       "-o", "normalize=maybe", "--out", str(tmp_path / "a")])
    _one_line_error(result, "option normalize must be true or false, got 'maybe'", "accepted: layer")
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "--model", "tiny", "-e", "gradcam",
                                       "-o", "normalize=true", "-o", "layer=stage2", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    options = json.loads((tmp_path / "b" / "photo0.json").read_text())["options"]
    assert options["normalize"] is True and options["layer"] == "stage2"
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "--model", "tiny", "--model-option",
                                       "input_size=abc", "--out", str(tmp_path / "c")])
    _one_line_error(result, "model 'tiny': option input_size must be int >= 1, got 'abc'")


def test_cli_report_unknown_segmenter_option_binds_no_folder(tmp_path, photo_files):
    out = tmp_path / "rep"
    result = CliRunner().invoke(main, ["report", "--model", "tiny", "--explainer", "gradcam", "--segmenter", "tiny",
                                       "--segmenter-option", "bogus=1", "--data", str(photo_files[0].parent),
                                       "--out", str(out)])
    _one_line_error(result, "segmenter 'tiny' has no option 'bogus'", "accepted: seed")
    assert not out.exists()


def test_cli_segment_unknown_option(photo_files, tmp_path):
    result = CliRunner().invoke(main, ["segment", str(photo_files[0]), "--segmenter", "tiny", "-o", "bogus=1",
                                       "--out", str(tmp_path / "s")])
    _one_line_error(result, "segmenter 'tiny' has no option 'bogus'")
