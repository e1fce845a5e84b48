"""Label maps as paletted PNGs and concept area fractions."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from geoxai.concepts import ade20k_concepts, ade20k_palette
from geoxai.segmenters.label_maps import concept_fractions, save_fractions, save_label_map


def test_png_is_paletted_with_ade20k_colours(tmp_path):
    labels = torch.tensor([[0, 2, 2], [149, 2, 12]])
    path = save_label_map(tmp_path / "out" / "map.png", labels)
    with Image.open(path) as im:
        assert im.mode == "P" and im.size == (3, 2)
        assert np.array_equal(np.asarray(im), labels.numpy())
        colours = np.asarray(im.convert("RGB"))
    assert np.array_equal(colours[0, 1], ade20k_palette()[2])    # sky
    assert np.array_equal(colours[1, 0], ade20k_palette()[149])
    assert sorted(p.name for p in path.parent.iterdir()) == ["map.png"]  # no temp files left


def test_out_of_range_labels_rejected(tmp_path):
    with pytest.raises(ValueError, match="outside 0..7"):
        save_label_map(tmp_path / "m.png", np.array([[0, 8]]), num_concepts=8)


def test_fractions_sorted_and_sum_to_one(tmp_path):
    concepts = ade20k_concepts()
    labels = np.array([[2, 2, 2, 0], [2, 4, 4, 0]])  # sky 4/8, wall 2/8, tree 2/8
    fractions = concept_fractions(labels, concepts)
    assert list(fractions) == ["sky", "wall", "tree"]  # ties keep class order
    assert fractions == {"sky": 0.5, "wall": 0.25, "tree": 0.25}
    path = save_fractions(tmp_path / "f.json", fractions)
    assert json.loads(path.read_text()) == fractions


def test_pixels_without_a_concept_are_255_and_black(tmp_path):
    labels = torch.tensor([[-1, 0], [1, -1]])
    path = save_label_map(tmp_path / "m.png", labels, num_concepts=2)
    with Image.open(path) as im:
        assert np.asarray(im).tolist() == [[255, 0], [1, 255]]
        assert np.asarray(im.convert("RGB"))[0, 0].tolist() == [0, 0, 0]
    assert concept_fractions(labels, ["text", "road"]) == {"text": 0.25, "road": 0.25}
    with pytest.raises(ValueError, match="at most 255"):
        save_label_map(tmp_path / "n.png", np.full((1, 2), -1), num_concepts=256)
