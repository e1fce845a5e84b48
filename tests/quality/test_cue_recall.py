"""Cue recall: attribution mass on the cue regions against shifted copies of equal area (hand-computed)."""
from __future__ import annotations

import math

import pytest
import torch

from geoxai.masks import ConceptMasks
from geoxai.quality.cue_recall import cue_recall, cue_union


def test_mass_on_the_cue_by_hand():
    maps = torch.zeros(1, 4, 4)
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, 1.0      # 3/4 of the mass on the cue pixel
    maps[0, 2, 2] = -5.0                          # negative evidence does not count
    cue = torch.zeros(1, 4, 4, dtype=torch.bool)
    cue[0, 0, 0] = True
    result = cue_recall(maps, cue, shifts=200, seed=1)
    assert result.cue_mass.tolist() == [0.75]
    # every shift moves the one-pixel mask elsewhere: it lands on (3, 3) (mass 1/4) in 1 of 15 places
    hits = result.random_mass.item() * 4
    assert 0 < hits < 0.2 and math.isclose(result.ratio.item(), 0.75 / result.random_mass.item())
    assert result.percentile.tolist() == [1.0]


def test_a_constant_map_has_ratio_one():
    cue = torch.zeros(2, 6, 8, dtype=torch.bool)
    cue[0, 1:3, 2:6] = True
    cue[1, 4, :] = True
    result = cue_recall(torch.ones(2, 6, 8), cue, shifts=16)
    torch.testing.assert_close(result.ratio, torch.ones(2, dtype=torch.float64))
    assert result.percentile.tolist() == [0.0, 0.0] and result.mean_ratio() == pytest.approx(1.0)


def test_no_cue_or_no_mass_gives_nan():
    cue = torch.zeros(2, 3, 3, dtype=torch.bool)
    cue[1, 0, 0] = True
    maps = torch.stack([torch.rand(3, 3), -torch.rand(3, 3)])
    result = cue_recall(maps, cue)
    assert result.ratio.isnan().all() and math.isnan(result.mean_ratio())


def test_union_of_named_cues_and_errors():
    masks = torch.zeros(1, 3, 2, 2, dtype=torch.bool)
    masks[0, 0, 0, 0] = masks[0, 2, 1, 1] = masks[0, 1, 0, 1] = True
    union = cue_union(ConceptMasks(masks, ["text", "building", "licence plate"]), ["text", "licence plate"])
    assert union.tolist() == [[[True, False], [False, True]]]
    with pytest.raises(ValueError, match="no concept 'kerb'"):
        cue_union(ConceptMasks(masks, ["text", "building", "licence plate"]), ["kerb"])
    with pytest.raises(ValueError, match="same shape"):
        cue_recall(torch.rand(1, 2, 2), torch.zeros(1, 3, 3, dtype=torch.bool))
