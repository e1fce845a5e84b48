"""Options are parsed and range-checked in one place (geoxai.options): a declared range
(``Annotated[int, Range(min=1)]``) refuses a bad value with one line naming the option and the
range, from the library, the CLI and the app alike."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated, Literal

import pytest
from click.testing import CliRunner

import geoxai
from geoxai.cli import main
from geoxai.options import (
    OptionError,
    PositiveFloat,
    PositiveInt,
    Range,
    check_options,
    option_specs,
    parse_options,
    split_pairs,
)


def _factory(stride: PositiveInt = 1, alpha: Annotated[float, Range(min=0, max=1, max_open=True)] | None = None,
             scale: PositiveFloat = 1.0, name: str = "x"):
    return {"stride": stride, "alpha": alpha, "scale": scale, "name": name}


SPECS = option_specs(_factory)


def test_ranges_are_part_of_the_declared_type():
    assert str(Range(min=1)) == ">= 1" and str(Range(min=0, min_open=True)) == "> 0"
    assert str(Range(min=0, max=18)) == ">= 0 and <= 18" and str(Range()) == "any number"
    assert 0 in Range(min=0) and 0 not in Range(min=0, min_open=True) and 1 not in Range(max=1, max_open=True)
    assert float("nan") not in Range(min=0)
    assert SPECS["stride"].describe() == "stride: int >= 1 = 1"
    assert SPECS["alpha"].describe() == "alpha: float >= 0 and < 1 | None = None"


@pytest.mark.parametrize("given, message", [
    (["stride=0"], "owner: option stride must be >= 1, got 0"),
    ("alpha=1", "owner: option alpha must be >= 0 and < 1, got 1.0"),
    ({"scale": 0}, "owner: option scale must be > 0, got 0.0"),
    ({"scale": "-2.5"}, "owner: option scale must be > 0, got -2.5"),
    (["alpha=nan"], "owner: option alpha must be >= 0 and < 1, got nan"),
])
def test_out_of_range_is_one_line_naming_option_and_range(given, message):
    with pytest.raises(OptionError) as info:
        parse_options("owner", SPECS, given)
    assert str(info.value) == message


def test_one_parser_for_pairs_text_and_dicts():
    expected = {"stride": 3, "alpha": 0.5, "name": "8"}
    assert parse_options("o", SPECS, ["stride=3", "alpha=0.5", "name=8"]) == expected
    assert parse_options("o", SPECS, "stride=3, alpha=0.5,\nname=8") == expected
    assert parse_options("o", SPECS, {"stride": 3, "alpha": "0.5", "name": "8"}) == expected
    assert parse_options("o", SPECS, {"alpha": "none"}) == {"alpha": None}
    assert parse_options("o", SPECS, None) == {} and parse_options("o", SPECS, "") == {}
    assert split_pairs("layers=a,b, n-samples = 2") == {"layers": "a,b", "n_samples": "2"}
    assert split_pairs(["layers=a,b", "x= 1"]) == {"layers": "a,b", "x": " 1"}
    with pytest.raises(OptionError, match=r"^-o: 'stride' is not key=value$"):
        parse_options("o", SPECS, ["stride"], what="-o")
    with pytest.raises(OptionError, match="option stride must be int >= 1, got 'two'"):
        parse_options("o", SPECS, ["stride=two"])


def test_building_checks_ranges_but_passes_other_types_on():
    import torch

    def factory(mode: Literal[1, 2] = 1):
        return mode

    assert check_options("o", SPECS, {"name": 5}, check_types=False) == {"name": 5}
    tensor = torch.ones(2)  # compared with the Literal's choices, it has no truth value: passed on as given
    assert check_options("o", option_specs(factory), {"mode": tensor}, check_types=False)["mode"] is tensor
    with pytest.raises(OptionError, match="option stride must be >= 1, got -1"):
        check_options("o", SPECS, {"stride": -1}, check_types=False)


def test_an_explainer_declares_a_range_in_its_options():
    from geoxai.explainers.base import BaseExplainer

    class Occlusion(BaseExplainer):
        name = "occlusion"

        @dataclass(frozen=True)
        class Options:
            stride: PositiveInt = 8

        def explain(self, model, images, target=None, **options):
            return range(0, 10, self.resolve(**options).stride)

    with pytest.raises(OptionError, match="^explainer 'occlusion': option stride must be >= 1, got 0$"):
        Occlusion(stride=0)
    with pytest.raises(OptionError, match="option stride must be >= 1, got 0"):
        Occlusion().explain(None, None, stride=0)
    assert list(Occlusion().explain(None, None, stride=5)) == [0, 5]


@pytest.mark.parametrize("load, name, options, message", [
    (geoxai.load_explainer, "ig-smoothgrad", {"n_steps": 0}, "option n_steps must be >= 1, got 0"),
    (geoxai.load_explainer, "ig-smoothgrad", {"budget": 4}, "option budget must be >= 8, got 4"),
    (geoxai.load_explainer, "lrp", {"epsilon": 0.0}, "option epsilon must be > 0, got 0.0"),
    (geoxai.load_explainer, "attention-rollout", {"last_blocks": 0}, "option last_blocks must be >= 1, got 0"),
    (geoxai.load_model, "tiny", {"input_size": 0}, "option input_size must be >= 1, got 0"),
    (geoxai.load_segmenter, "tiny", {"num_concepts": 0}, "option num_concepts must be >= 1, got 0"),
    (geoxai.load_geocoder, "nominatim", {"zoom": 19}, "option zoom must be >= 0 and <= 18, got 19"),
])
def test_built_in_numeric_options_are_range_checked(load, name, options, message):
    with pytest.raises(OptionError, match=message):
        load(name, **options)


def _one_line(result, text):
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert result.output.strip().count("\n") == 0 and text in result.output, result.output


def test_cli_explain_range_errors(photo_files, tmp_path):
    args = ["explain", str(photo_files[0]), "--model", "tiny", "--out", str(tmp_path / "o")]
    _one_line(CliRunner().invoke(main, [*args, "-e", "ig-smoothgrad", "-o", "n_steps=0"]),
              "explainer 'ig-smoothgrad': option n_steps must be >= 1, got 0")
    _one_line(CliRunner().invoke(main, [*args, "-e", "ig-smoothgrad", "-o", "stdev=-0.1"]),
              "explainer 'ig-smoothgrad': option stdev must be >= 0, got -0.1")
    _one_line(CliRunner().invoke(main, [*args, "-e", "gradcam", "--model-option", "width=0"]),
              "model 'tiny': option width must be >= 1, got 0")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_segment_and_quality_range_errors(photo_files, tmp_path):
    _one_line(CliRunner().invoke(main, ["segment", str(photo_files[0]), "--segmenter", "tiny", "-o",
                                        "num_concepts=0", "--out", str(tmp_path / "s")]),
              "segmenter 'tiny': option num_concepts must be >= 1, got 0")
    _one_line(CliRunner().invoke(main, ["quality", str(photo_files[0]), "-m", "tiny", "-e", "ig-smoothgrad",
                                        "-e", "gradcam", "--explainer-option", "ig-smoothgrad:n_samples=0",
                                        "--out", str(tmp_path / "q")]),
              "explainer 'ig-smoothgrad': option n_samples must be >= 1, got 0")
    _one_line(CliRunner().invoke(main, ["quality", str(photo_files[0]), "-m", "tiny", "-e", "gradcam",
                                        "--model-option", "input_size=0", "--out", str(tmp_path / "q")]),
              "model 'tiny': option input_size must be >= 1, got 0")


def test_app_request_options_go_through_the_same_parser(tmp_path, photos):
    pytest.importorskip("starlette")
    from PIL import Image
    from starlette.testclient import TestClient

    from geoxai.app.engine import Explorer
    from geoxai.app.server import create_app

    buf = io.BytesIO()
    Image.fromarray(photos[0]).save(buf, format="PNG")
    with TestClient(create_app(Explorer(tmp_path / "work")), base_url="http://127.0.0.1:8000") as client:
        photo = client.post("/api/photos", files={"photo": ("a.png", buf.getvalue(), "image/png")}).json()["photo"]
        base = {"photo": photo, "model": "tiny", "explainer": "ig-smoothgrad"}
        r = client.post("/api/jobs", json={**base, "explainer_options": "n_samples=2, n_steps=0"})
        assert r.status_code == 400
        assert r.json()["error"] == "explainer 'ig-smoothgrad': option n_steps must be >= 1, got 0"
        r = client.post("/api/jobs", json={**base, "explainer_options": {"n_samples": "two"}})
        assert r.status_code == 400 and r.json()["error"].startswith(
            "explainer 'ig-smoothgrad': option n_samples must be int >= 1, got 'two'")
