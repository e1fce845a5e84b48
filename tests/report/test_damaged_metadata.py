"""Crafted or corrupt report metadata (issue 22 §2): a config.json that is no configuration,
a part with an int image_id, an example .npz that is not one: one line naming the file; where
the report can go on, it does (the damaged part's images and the example are computed again)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _report_helpers import BASE_ARGS, make_dataset, read_rows
from click.testing import CliRunner

from geoxai.cli import main


def _report(data, out, *extra):
    return ["report", *BASE_ARGS, "--data", str(data), "--out", str(out), "--workers", "0", "--quiet", *extra]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("meta-data"), n=3)


BAD_CONFIGS = {"list": "[1, 2]", "partial": '{"model": "tiny"}', "bad-json": "{broken",
               "int-model": '{"model": 1, "explainer": "gradcam", "segmenter": "tiny"}'}


@pytest.mark.parametrize("config", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_a_config_json_that_is_no_configuration_is_one_line(small_dataset, tmp_path, config):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text(config)
    result = CliRunner().invoke(main, _report(small_dataset, out))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{out / 'config.json'}: not a geoxai report configuration" in lines[0], result.output


def test_a_part_with_an_int_image_id_is_set_aside_and_its_images_computed_again(small_dataset, tmp_path):
    out = tmp_path / "out"
    assert CliRunner().invoke(main, _report(small_dataset, out, "--part-size", "1")).exit_code == 0
    expected, _ = read_rows(out)
    part = sorted((out / "images").glob("part-*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(table.set_column(0, "image_id", pa.array([7] * len(table))), part)

    result = CliRunner().invoke(main, _report(small_dataset, out, "--part-size", "1"))
    assert result.exit_code == 0, result.output
    assert f"{part}: not a valid part (column image_id is int64, not string)" in result.output
    rows, _ = read_rows(out)
    assert rows.image_id.tolist() == expected.image_id.tolist()  # nothing lost, nothing twice
    assert (out / "images" / f"damaged-{part.name}").exists()


@pytest.mark.parametrize("damage", ["garbage", "int-id", "no-arrays"])
def test_a_bad_example_npz_is_one_line_and_the_example_is_drawn_again(small_dataset, tmp_path, damage):
    import numpy as np

    out = tmp_path / "out"
    args = _report(small_dataset, out, "--examples", "2")
    assert CliRunner().invoke(main, args).exit_code == 0
    figures = sorted((out / "examples").glob("*.png"))
    assert figures
    for figure in figures:
        figure.unlink()
    data = sorted((out / "examples" / "data").glob("*.npz"))[0]
    if damage == "garbage":
        data.write_bytes(b"not an npz")
    else:
        meta = {"image_id": 5, "gcd_km": 1.0} if damage == "int-id" else {"image_id": "img000", "gcd_km": 1.0}
        with open(data, "wb") as fh:
            np.savez(fh, meta=np.asarray(json.dumps(meta)))

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"warning: {data}: unreadable example data" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith(("warning", "Error"))]) == 1
    assert sorted((out / "examples").glob("*.png")) == figures  # every figure drawn again
