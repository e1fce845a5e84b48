"""Combined segmenters (``a+b``, ``-s a -s b``): one concept list, overlapping masks, one ci table."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from geoxai.ci import concept_influence
from geoxai.combined import CombinedSegmenter, route_options, segmenter_names
from geoxai.interfaces import MaskSegmenter, Segmenter
from geoxai.masks import ConceptMasks
from geoxai.options import OptionError
from geoxai.plugins import load_segmenter, parse_plugin_options


class _Rows(Segmenter):
    """A label segmenter: the top half is 'building', the bottom half 'road'."""

    name, concepts = "rows", ["building", "road"]

    def segment(self, images):
        pixels = images if isinstance(images, torch.Tensor) else images.pixels
        b, _, h, w = pixels.shape
        labels = torch.ones(b, h, w, dtype=torch.long)
        labels[:, : h // 2] = 0
        return labels


class _Sign(MaskSegmenter):
    """A mask segmenter: 'text' on the top-left 2x2 pixels, with what it 'read'."""

    name, concepts = "sign", ["text"]

    def segment_masks(self, images):
        pixels = images if isinstance(images, torch.Tensor) else images.pixels
        b, _, h, w = pixels.shape
        masks = torch.zeros(b, 1, h, w, dtype=torch.bool)
        masks[:, 0, :2, :2] = True
        return ConceptMasks(masks, self.concepts, [[{"text": "EXIT"}] for _ in range(b)])


def test_names_from_plus_and_repeats():
    assert segmenter_names("ade20k-hrnet+text") == ["ade20k-hrnet", "text"]
    assert segmenter_names(["ade20k-hrnet", "text+cues", "text"]) == ["ade20k-hrnet", "text", "cues"]
    with pytest.raises(ValueError, match="empty name"):
        segmenter_names("text+")


def test_options_reach_the_parts_by_name():
    declared = {"a": {"seed": None, "scales": None}, "b": {"seed": None}, "c": None}.get
    routed = route_options(["a", "b"], declared, {"seed": 1, "a.scales": 300, "b.seed": 2})
    assert routed == {"a": {"seed": 1, "scales": 300}, "b": {"seed": 2}}
    assert route_options(["a", "c"], declared, {"anything": 3}) == {"a": {}, "c": {"anything": 3}}
    with pytest.raises(OptionError, match="none of a, b has it"):
        route_options(["a", "b"], declared, {"scales2": 1})
    with pytest.raises(OptionError, match="'x' is not one of"):
        route_options(["a", "b"], declared, {"x.seed": 1})


def test_combined_ci_by_hand():
    combined = CombinedSegmenter([_Rows(), _Sign()])
    assert combined.name == "rows+sign" and combined.concepts == ["building", "road", "text"]
    masks = combined.segment_masks(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    assert masks.regions == [[{"text": "EXIT", "segmenter": "sign"}]]
    # the top pixels (k = 4): the text's 2x2 corner; building (8 px) holds them all, so do the text's 4 px
    maps = torch.zeros(1, 4, 4, dtype=torch.float64)
    maps[0, :2, :2] = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    result = concept_influence(maps, masks, k=4, min_size=0.0)
    assert result.ci[0].tolist() == [1.0 / 0.5, 0.0, 1.0 / 0.25]
    assert combined.segment(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))[0, 0].tolist() == [2, 2, 0, 0]


def test_shared_concept_names_are_prefixed():
    class _Lights(_Sign):
        name = "lights"

    assert CombinedSegmenter([_Rows(), _Sign(), _Lights()]).concepts == ["building", "road", "sign/text",
                                                                         "lights/text"]


def test_load_segmenter_builds_a_combination():
    combined = load_segmenter("tiny+text", seed=3, **{"text.min_score": 0.9})
    assert isinstance(combined, CombinedSegmenter) and combined.concepts[-1] == "text"
    assert combined.parts[0].concepts == load_segmenter("tiny", seed=3).concepts and combined.parts[1].min_score == 0.9
    typed = parse_plugin_options("segmenter", "tiny+text", {"seed": "3", "text.scripts": "true"})
    assert typed == {"seed": 3, "text.scripts": True}


@pytest.fixture(scope="module")
def sign_photo(tmp_path_factory):
    from tests.segmenters.test_text import street_sign

    pixels, _ = street_sign("RUE DU PORT")
    path = tmp_path_factory.mktemp("sign") / "sign.png"
    from PIL import Image

    Image.fromarray(pixels[0].permute(1, 2, 0).numpy()).save(path)
    return path


def test_segment_cli_with_two_segmenters(sign_photo, tmp_path):
    from geoxai.cli import main

    out = tmp_path / "seg"
    result = CliRunner().invoke(main, ["segment", str(sign_photo), "-s", "tiny", "-s", "text", "--out", str(out)])
    assert result.exit_code == 0, result.output
    fractions = json.loads((out / "sign.json").read_text())
    regions = json.loads((out / "sign_regions.json").read_text())
    assert regions["segmenter"] == "tiny+text" and [r["text"] for r in regions["regions"]] == ["RUE DU PORT"]
    assert 0.01 < fractions["text"] < 0.1 and sum(fractions.values()) > 1.0  # text overlaps tiny's concepts
    from PIL import Image

    with Image.open(out / "sign.png") as im:
        assert np.asarray(im)[70, 400] == 8  # text (the 9th concept) drawn over tiny's 8


def test_explain_cli_scores_text_in_one_ci_table(sign_photo, tmp_path):
    from geoxai.cli import main

    out = tmp_path / "exp"
    result = CliRunner().invoke(main, ["explain", str(sign_photo), "-m", "tiny", "-e", "gradcam", "-s", "tiny+text",
                                       "--min-size", "0.01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "sign.json").read_text())["concept_influence"]
    concepts = {s["concept"] for s in doc["scores"]}
    assert "text" in concepts and len(concepts) > 1
    (region,) = doc["regions"]  # read from the model's small view, so the last letter may be lost
    assert region["text"].startswith("RUE DU PO") and region["segmenter"] == "text"


def test_a_combination_passes_the_segmenter_contract():
    from geoxai.contract import check_segmenter

    combined = CombinedSegmenter([_Rows(), _Sign()])
    labels = check_segmenter(combined)
    assert (labels[:, :2, :2] == 2).all() and combined.to("cpu") is combined


def test_report_with_a_combination_gives_text_rows_per_country(sign_photo, tmp_path):
    """``geoxai report -s tiny+text``: the text concept is scored beside tiny's, and the cue table
    lists it for the photos' true country."""
    import shutil

    from geoxai.cli import main
    from geoxai.report.cues import cue_country_table
    from geoxai.report.store import PartStore

    shutil.copy(sign_photo, tmp_path / "a.png")
    (tmp_path / "data.csv").write_text("image,lat,lon,id\na.png,52.52,13.40,berlin\n")
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", "-m", "tiny", "-e", "gradcam", "-s", "tiny+text", "--data",
                                       str(tmp_path / "data.csv"), "--out", str(out), "--min-size", "0.01",
                                       "--min-images", "1", "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    images, concepts = PartStore(out).read_images(), PartStore(out).read_concepts()
    assert "text" in set(concepts["concept"]) and len(set(concepts["concept"])) > 1
    table = cue_country_table(images, concepts, cues=["text"])
    assert table[["concept", "true_country", "images"]].values.tolist() == [["text", "DE", 1]]


def test_quality_with_the_text_segmenter_writes_cue_recall(sign_photo, tmp_path):
    import shutil

    from geoxai.cli import main
    from geoxai.quality.store import QualityStore

    shutil.copy(sign_photo, tmp_path / "a.png")
    (tmp_path / "data.csv").write_text("image,lat,lon,id\na.png,52.52,13.40,berlin\n")
    out = tmp_path / "quality"
    result = CliRunner().invoke(main, ["quality", "--model", "tiny", "-e", "combicam", "--steps", "4",
                                       "--sanity-stages", "0", "--segmenter", "tiny+text", "--quiet",
                                       "--data", str(tmp_path / "data.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = QualityStore(out / "combicam").read_images().to_dict("records")
    assert row["cue_recall_ratio"] >= 0 and 0 <= row["cue_recall_percentile"] <= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["combicam"]["cue_recall_ratio"][0] == pytest.approx(row["cue_recall_ratio"])
    assert "cue recall" in (out / "summary.md").read_text()
