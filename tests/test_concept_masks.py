"""Overlapping concept masks: ConceptMasks, Segmenter.segment_masks and ci on masks (hand-computed)."""
from __future__ import annotations

import math

import pytest
import torch

import geoxai
from geoxai.ci import concept_influence
from geoxai.interfaces import MaskSegmenter
from geoxai.masks import ConceptMasks
from geoxai.testing import TinySegmenter


def test_one_hot_of_labels_and_back():
    labels = torch.tensor([[[0, 1], [2, -1]]])
    masks = ConceptMasks.from_labels(labels, ["a", "b", "c"])
    assert masks.masks.shape == (1, 3, 2, 2) and masks.masks.sum() == 3
    assert torch.equal(masks.labels(), labels)
    assert masks.fractions(0) == {"a": 0.25, "b": 0.25, "c": 0.25}


def test_labels_take_the_last_covering_concept():
    masks = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    masks[0, 0] = True            # building everywhere
    masks[0, 1, 0, 0] = True      # text on one pixel of it
    cm = ConceptMasks(masks, ["building", "text"])
    assert cm.labels().tolist() == [[[1, 0], [0, 0]]]
    assert cm.fractions(0) == {"building": 1.0, "text": 0.25}  # overlapping shares sum past 1


def test_bad_masks_are_one_line_errors():
    with pytest.raises(ValueError, match="bool"):
        ConceptMasks(torch.zeros(1, 1, 2, 2), ["a"])
    with pytest.raises(ValueError, match="2 concept names"):
        ConceptMasks(torch.zeros(1, 1, 2, 2, dtype=torch.bool), ["a", "b"])


def test_default_segment_masks_is_the_one_hot_of_segment():
    seg = TinySegmenter(num_concepts=4)
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    masks = seg.segment_masks(images)
    assert masks.concepts == seg.concepts and not seg.overlapping_masks
    assert torch.equal(masks.labels(), seg.segment(images))
    assert geoxai.ConceptMasks is ConceptMasks


def test_non_overlapping_masks_give_the_label_results():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(-1, 5, (3, 12, 10), generator=gen)
    maps = torch.rand(3, 24, 20, generator=gen, dtype=torch.float64)  # labels resized by nearest
    for dilation in (0, 2):
        from_labels = concept_influence(maps, labels, k=30, min_size=0.02, dilation=dilation, num_concepts=5)
        one_hot = ConceptMasks.from_labels(labels, list("abcde")).masks  # the bool masks alone: the mask path
        from_masks = concept_influence(maps, one_hot, k=30, min_size=0.02, dilation=dilation)
        for field in ("ci", "tki", "size", "mask_pixels", "intersection_pixels", "concept_pixels", "valid"):
            a, b = getattr(from_labels, field), getattr(from_masks, field)
            assert torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num()), field


def test_overlapping_masks_by_hand():
    # 4x4 image, k = 4: the top pixels are the first row.
    maps = torch.zeros(1, 4, 4, dtype=torch.float64)
    maps[0, 0] = torch.tensor([4.0, 3.0, 2.0, 1.0])
    masks = torch.zeros(1, 3, 4, 4, dtype=torch.bool)
    masks[0, 0, :2, :] = True     # building: top half (8 px), holds all 4 top pixels
    masks[0, 1, 0, :2] = True     # text on the building: 2 px, 2 top pixels
    masks[0, 2, 3, :] = True      # road: bottom row, no top pixel
    result = concept_influence(maps, masks, k=4, min_size=0.0)
    # building: tki 4/4 = 1, size 8/16 -> ci 2; text: tki 2/4, size 2/16 -> ci 4; road: 0
    assert result.tki[0].tolist() == [1.0, 0.5, 0.0]
    assert result.size[0].tolist() == [0.5, 0.125, 0.25]
    assert result.ci[0].tolist() == [2.0, 4.0, 0.0]
    # the same pixels in a label map must give text's pixels to one concept only
    labels = ConceptMasks(masks, ["building", "text", "road"]).labels()
    flat = concept_influence(maps, labels, k=4, min_size=0.0, num_concepts=3)
    # building keeps 6 px (size 0.375) and 2 of the 4 top pixels (tki 0.5)
    assert flat.ci[0].tolist() == [0.5 / 0.375, 4.0, 0.0]


def test_overlapping_masks_with_dilation_by_hand():
    maps = torch.zeros(1, 5, 5, dtype=torch.float64)
    maps[0, 2, 2], maps[0, 0, 0] = 2.0, 1.0
    masks = torch.zeros(1, 2, 5, 5, dtype=torch.bool)
    masks[0, 0, 2, 2] = True
    masks[0, 1, 1:4, 1:4] = True  # contains concept 0
    result = concept_influence(maps, masks, k=2, min_size=0.0, dilation=1)
    # concept 0 grows to the 3x3 block (9 px) holding 1 of 2 top pixels; concept 1 to all 25 px, both
    assert result.mask_pixels[0].tolist() == [9, 25]
    assert result.concept_pixels[0].tolist() == [1, 9]
    assert math.isclose(float(result.ci[0, 0]), 0.5 / (9 / 25))
    assert math.isclose(float(result.ci[0, 1]), 1.0)


def test_masks_made_from_labels_keep_them():
    labels = torch.tensor([[[0, 2], [2, 1]]])
    masks = ConceptMasks.from_labels(labels, ["a", "b", "c"])
    assert masks.labels() is masks.label_map
    maps = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    assert torch.equal(concept_influence(maps, masks, k=2, min_size=0.0).ci,
                       concept_influence(maps, masks.masks, k=2, min_size=0.0).ci)


def test_masks_and_num_concepts_must_agree():
    with pytest.raises(ValueError, match="num_concepts"):
        concept_influence(torch.rand(1, 4, 4), torch.zeros(1, 2, 4, 4, dtype=torch.bool), num_concepts=3)


class _Halves(MaskSegmenter):
    """Two overlapping concepts: the left half and the top half."""

    name, concepts = "halves", ["left", "top"]

    def segment_masks(self, images):
        pixels = images if isinstance(images, torch.Tensor) else images.pixels
        b, _, h, w = pixels.shape
        masks = torch.zeros(b, 2, h, w, dtype=torch.bool)
        masks[:, 0, :, : w // 2] = True
        masks[:, 1, : h // 2] = True
        return ConceptMasks(masks, self.concepts)


def test_mask_segmenter_segment_is_the_flattened_masks():
    labels = _Halves().segment(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))
    assert labels.tolist() == [[[1, 1], [0, -1]]]


def test_masks_of_a_label_map_are_built_only_when_read():
    labels = torch.tensor([[[0, -1], [1, 1]]])
    masks = ConceptMasks.from_labels(labels, ["a", "b"])
    assert masks._masks is None and len(masks) == 1 and masks.fractions(0) == {"b": 0.5, "a": 0.25}
    assert masks.masks.tolist() == [[[[True, False], [False, False]], [[False, False], [True, True]]]]
    with pytest.raises(ValueError, match="label 1 but 1 concepts"):
        ConceptMasks.from_labels(labels, ["a"])
