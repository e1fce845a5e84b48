"""The explanation figure and the world map are real PNGs of the requested size, drawn offline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from geoxai import concept_influence
from geoxai.types import CellScore, GeoPrediction
from geoxai.viz.figure import concept_colors, explanation_figure, format_scores
from geoxai.viz.worldmap import country_outlines, map_extent, world_map


@pytest.fixture
def explained(tiny_model, tiny_segmenter, tiny_batch):
    """Gradient maps of the tiny model, the tiny segmentation, ci records and predictions."""
    x = tiny_model.as_input(tiny_batch).requires_grad_(True)
    scores = tiny_model(x)
    scores.gather(1, scores.argmax(1, keepdim=True)).sum().backward()
    maps = x.grad.abs().amax(1)
    seg = tiny_segmenter.segment(tiny_batch)
    ci = concept_influence(maps, seg, k=200, min_size=0.05, num_concepts=len(tiny_segmenter.concepts))
    preds = tiny_model.predict(tiny_batch, top_k=25)
    return maps, seg, ci, preds


def _png(path):
    with Image.open(path) as im:
        im.load()
        return im.format, im.size, np.asarray(im.convert("RGB"))


def test_country_outlines_ship_offline():
    rings = country_outlines()
    assert len(rings) > 200
    everything = np.concatenate(rings)
    assert everything[:, 0].min() < -170 and everything[:, 0].max() > 170  # lon covers the world
    assert everything[:, 1].min() < -80 and everything[:, 1].max() > 80


def test_world_map_png(tmp_path, explained):
    preds = explained[3]
    out = world_map(preds[0], tmp_path / "map.png", ground_truth=(52.52, 13.40), size=(800, 450))
    fmt, size, pixels = _png(out)
    assert fmt == "PNG" and size == (800, 450)
    # the predicted star is pure-ish red, the truth marker blue: both colours appear in the image
    red = (pixels[..., 0] > 190) & (pixels[..., 1] < 70) & (pixels[..., 2] < 70)
    blue = (pixels[..., 2] > 190) & (pixels[..., 0] < 60) & (pixels[..., 1] < 120)
    assert red.sum() > 20 and blue.sum() > 20
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_world_map_zoom_frames_the_points(tmp_path):
    cells = [CellScore(0, 0.6, 41.39, 2.17, "Barcelona"), CellScore(1, 0.3, 48.86, 2.35, "Paris")]
    pred = GeoPrediction(0, 41.39, 2.17, "Barcelona", 0.6, cells)
    x0, x1, y0, y1 = map_extent([41.39, 48.86, 52.5], [2.17, 2.35, 13.4])
    assert x0 < 2.17 and x1 > 13.4 and y0 < 41.39 and y1 > 52.5
    assert x1 - x0 < 90 and y1 - y0 < 45  # a region, not the world
    out = world_map(pred, tmp_path / "zoom.png", ground_truth=(52.5, 13.4), zoom=True, size=(600, 400))
    assert _png(out)[1] == (600, 400)
    with pytest.raises(ValueError, match="ground truth"):
        world_map(pred, tmp_path / "bad.png", ground_truth=(95.0, 0.0))


def test_explanation_figure_png(tmp_path, explained, tiny_batch, tiny_segmenter):
    maps, seg, ci, preds = explained
    records = [r for r in ci.records(tiny_segmenter.concepts, tiny_batch.ids) if r["image_id"] == tiny_batch.ids[1]]
    out = explanation_figure(tiny_batch.to_numpy()[1], maps[1], seg[1], tiny_segmenter.concepts, records, preds[1],
                             ground_truth=(40.0, -3.7), k=200, path=tmp_path / "sub" / "fig.png", size=(1200, 720))
    fmt, size, pixels = _png(out)
    assert fmt == "PNG" and size == (1200, 720)
    assert pixels.std() > 10  # not blank
    assert not list((tmp_path / "sub").glob(".*.tmp"))


def test_explanation_figure_resizes_and_accepts_pairs(tmp_path, tiny_segmenter):
    view = np.full((64, 64, 3), 128, np.uint8)
    expl = torch.rand(32, 32)  # half resolution: shown bilinear, top-k chosen at native size
    seg = torch.zeros(16, 16, dtype=torch.long)
    seg[:8] = 2
    pred = GeoPrediction(0, 10.0, 20.0, "somewhere", 0.5, [CellScore(0, 0.5, 10.0, 20.0, "somewhere")])
    out = explanation_figure(view, expl, seg, tiny_segmenter.concepts, [("sky", 0.4), ("building", 2.5)], pred,
                             k=50, path=tmp_path / "f.png", world_map=False, size=(900, 600))
    assert _png(out)[1] == (900, 600)
    with pytest.raises(ValueError, match="segmentation label 11 but only 8 concepts"):
        explanation_figure(view, expl, seg + 9, tiny_segmenter.concepts, [], pred, path=tmp_path / "g.png")


def test_scores_text_and_colours():
    assert format_scores([("mountain", 0.62), ("building", 2.857)]) == "building: 2.86, mountain: 0.62"
    assert format_scores([{"concept": "sky", "ci": 1.0}]) == "sky: 1.00"
    assert format_scores([]) == "no concept scored"
    colors = concept_colors(["wall", "building", "not-a-concept"])
    assert np.allclose(colors[0], np.array([120, 120, 120]) / 255)  # ADE20k palette colour of "wall"
    assert colors.shape == (3, 3)


def test_explanation_figure_outlines_the_regions_read(tmp_path, tiny_segmenter):
    view = np.full((64, 64, 3), 128, np.uint8)
    seg = torch.zeros(64, 64, dtype=torch.long)
    pred = GeoPrediction(0, 10.0, 20.0, "somewhere", 0.5, [CellScore(0, 0.5, 10.0, 20.0, "somewhere")])
    common = dict(k=50, world_map=False, size=(900, 600))
    plain = _png(explanation_figure(view, torch.rand(64, 64, generator=torch.Generator().manual_seed(0)), seg,
                                    tiny_segmenter.concepts, [], pred, path=tmp_path / "a.png", **common))[2]
    region = {"text": "EXIT", "polygon": [[10, 20], [50, 20], [50, 34], [10, 34]]}
    labelled = _png(explanation_figure(view, torch.rand(64, 64, generator=torch.Generator().manual_seed(0)), seg,
                                       tiny_segmenter.concepts, [], pred, path=tmp_path / "b.png", regions=[region],
                                       **common))[2]
    changed = np.argwhere((plain != labelled).any(-1))
    assert len(changed) and changed[:, 1].max() < 900 / 3  # drawn on the first panel only (the view)

    def yellow_on_view_panel(pixels):
        panel = pixels[:, : 900 // 3]
        return int(((panel[..., 0] > 200) & (panel[..., 1] > 200) & (panel[..., 2] < 80)).sum())

    assert yellow_on_view_panel(plain) == 0 and yellow_on_view_panel(labelled) > 50  # outline and label box
