import pytest
import torch

from geoxai.targets import Cell, PredictedCell, Region, parse_target


def test_parse_target_forms():
    assert parse_target(None) == PredictedCell() == parse_target("predicted")
    assert parse_target("cell:3") == Cell(3) == parse_target(3)
    assert parse_target("region:ES") == Region(node="ES")
    assert parse_target("within:41.39,2.17,25") == Region(within=(41.39, 2.17, 25.0))
    assert parse_target("cells:1,2") == Region(cell_indices=(1, 2))
    for bad in ("cell:x", "within:1,2", "within:95,0,10", "what:1", "region:"):
        with pytest.raises(ValueError, match="invalid target"):
            parse_target(bad)


def test_cell_targets_use_scores_and_regions_sum_probabilities(tiny_model, tiny_batch):
    x = tiny_model.as_input(tiny_batch)
    scores = tiny_model(x)
    assert torch.equal(PredictedCell().score(tiny_model, scores), scores.max(1).values)
    assert torch.equal(Cell(2).score(tiny_model, scores), scores[:, 2])
    probs = torch.softmax(scores, 1)
    eu = Region(node="EU").score(tiny_model, scores)  # Barcelona, Paris, Hanover
    assert torch.allclose(eu, probs[:, 0] + probs[:, 1] + probs[:, 2])
    near_bcn = Region(within=(41.39, 2.17, 1000)).score(tiny_model, scores)  # Barcelona, Paris
    assert torch.allclose(near_bcn, probs[:, 0] + probs[:, 1])
    with pytest.raises(ValueError, match="out of range"):
        Cell(99).score(tiny_model, scores)
    with pytest.raises(ValueError, match="contains no cell"):
        Region(within=(0.0, -150.0, 10)).score(tiny_model, scores)


def test_region_by_label_and_fine_key(tiny_model):
    assert tiny_model.region_cells("Americas").tolist() == [3, 4]
    assert tiny_model.region_cells("jp-tyo").tolist() == [5]
    with pytest.raises(ValueError, match="no region 'Atlantis'"):
        tiny_model.region_cells("Atlantis")
