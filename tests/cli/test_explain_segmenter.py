"""`geoxai explain --segmenter`: ci scores in the JSON, the figure and the world map on the tiny model."""
from __future__ import annotations

import json

import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image

from geoxai import concept_influence
from geoxai.cli import main


def test_explain_with_segmenter_writes_scores_figure_and_map(tmp_path, photo_files):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "explain", str(photo_files[0]), str(photo_files[1]), "-m", "tiny", "-e", "gradcam", "--segmenter", "tiny",
        "--segmenter-option", "seed=3", "--k", "300", "--min-size", "0.05", "--dilation", "1",
        "--truth", "41.39,2.17", "-O", str(out),
    ])
    assert result.exit_code == 0, result.output
    for stem in ("photo0", "photo1"):
        doc = json.loads((out / f"{stem}.json").read_text())
        ci = doc["concept_influence"]
        assert (ci["segmenter"], ci["k"], ci["min_size"], ci["dilation"]) == ("tiny", 300, 0.05, 1)
        assert ci["scores"], "at least one concept is scored"
        assert [s["rank"] for s in ci["scores"]] == list(range(1, len(ci["scores"]) + 1))
        assert all(a["ci"] >= b["ci"] for a, b in zip(ci["scores"], ci["scores"][1:]))
        assert doc["ground_truth"]["gcd_km"] >= 0
        assert doc["files"] == {"figure": f"{stem}_figure.png"}
        with Image.open(out / f"{stem}_figure.png") as im:
            assert im.format == "PNG" and im.size == (1500, 900)

    # the JSON scores are concept_influence of the saved map and the seed-3 tiny segmentation
    from geoxai.io.images import load_image
    from geoxai.testing import TinyGeoModel, TinySegmenter

    model, segmenter = TinyGeoModel(), TinySegmenter(seed=3)
    view = model.prepare([load_image(photo_files[0])]).pixels
    heat = torch.from_numpy(np.load(out / "photo0.npy"))
    expected = concept_influence(heat[None], segmenter.segment(view), k=300, min_size=0.05, dilation=1,
                                 num_concepts=len(segmenter.concepts)).records(segmenter.concepts)
    got = json.loads((out / "photo0.json").read_text())["concept_influence"]["scores"]
    assert [(s["concept"], round(s["ci"], 9)) for s in got] == [(r["concept"], round(r["ci"], 9)) for r in expected]


def test_explain_figure_by_default_map_only_and_bad_truth(tmp_path, photo_files):
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["explain", str(photo_files[2]), "-m", "tiny", "-e", "gradcam",
                                       "--map", "zoom", "--no-figure", "-O", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out / "photo2_map.png") as im:
        assert im.format == "PNG" and im.size == (1000, 560)
    assert not (out / "photo2_figure.png").exists()
    doc = json.loads((out / "photo2.json").read_text())
    assert "concept_influence" not in doc and doc["files"] == {"map": "photo2_map.png"}

    # without a segmenter and without flags: the figure is written all the same
    result = CliRunner().invoke(main, ["explain", str(photo_files[2]), "-m", "tiny", "-e", "gradcam", "-q",
                                       "-O", str(tmp_path / "plain")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "plain" / "photo2_figure.png") as im:
        assert im.format == "PNG" and im.size == (1500, 900)
    assert json.loads((tmp_path / "plain" / "photo2.json").read_text())["files"] == {"figure": "photo2_figure.png"}

    result = CliRunner().invoke(main, ["explain", str(photo_files[2]), "-m", "tiny", "--truth", "91,0",
                                       "-O", str(out)])
    assert result.exit_code != 0
    assert "--truth" in result.output and "out of range" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["explain", str(photo_files[2]), "-m", "tiny", "--segmenter-option", "seed=1",
                                       "-O", str(out)])
    assert result.exit_code != 0 and "--segmenter-option needs --segmenter" in result.output
