"""The HTML examples are drawn from what the compute pass made: no model, explainer or segmenter is
built again, and a resumed run still draws them."""
import json

import numpy as np
import pytest
from _report_helpers import BASE_ARGS
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.report.examples import DATA_DIR, EXAMPLES_DIR, ExampleKeeper, read_payload
from geoxai.report.store import PartStore
from geoxai.testing import TinyGeoModel


@pytest.fixture
def count_builds(monkeypatch):
    builds = []
    original = TinyGeoModel.__init__

    def counting(self, *args, **kwargs):
        builds.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(TinyGeoModel, "__init__", counting)
    return builds


def _report(dataset, out, *extra):
    result = CliRunner().invoke(main, ["report", *BASE_ARGS, "--data", str(dataset), "--out", str(out),
                                       "--workers", "0", "--batch-size", "4", "--part-size", "8", "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return result


def test_examples_reuse_the_computed_maps_and_survive_a_resume(dataset, tmp_path, count_builds):
    out = tmp_path / "rep"
    _report(dataset, out, "--examples", "4")
    assert len(count_builds) == 1  # the compute pass only: the figures were drawn from its data
    figures = sorted((out / EXAMPLES_DIR).glob("*.png"))
    assert len(figures) == 4 and f"{EXAMPLES_DIR}/{figures[0].name}" in (out / "report.html").read_text()
    kept = sorted((out / EXAMPLES_DIR / DATA_DIR).glob("*.npz"))
    assert 4 <= len(kept) <= 8  # at most n per split
    rows = PartStore(out).read_images().set_index("image_id")
    concepts = PartStore(out).read_concepts()
    for path in kept:
        payload = read_payload(path)
        row = rows.loc[payload["image_id"]]
        assert payload["prediction"]["cell"] == row["pred_cell"] and payload["view"].shape == (3, 64, 64)
        # the kept map and masks give the concept scores the rows hold
        import torch

        from geoxai.ci import concept_influence

        influence = concept_influence(torch.from_numpy(payload["heat"])[None], torch.from_numpy(
            payload["segmentation"]).long()[None], k=300, min_size=0.1, num_concepts=len(payload["concepts"]))
        mine = concepts[concepts.image_id == payload["image_id"]].set_index("concept")["ci"]
        for rec in influence.records(payload["concepts"], [payload["image_id"]]):
            assert rec["ci"] == pytest.approx(mine[rec["concept"]], abs=1e-6)

    # a resume that finds every row done and the figures gone redraws them with no model at all
    for figure in figures:
        figure.unlink()
    _report(dataset, out, "--examples", "4")
    assert len(count_builds) == 1 and len(list((out / EXAMPLES_DIR).glob("*.png"))) == 4

    # a killed run: one part lost (its images are computed again), figures gone
    part = sorted((out / "images").glob("part-*.parquet"))[0]
    part.unlink()
    (out / "concepts" / part.name).unlink()
    for figure in (out / EXAMPLES_DIR).glob("*.png"):
        figure.unlink()
    _report(dataset, out, "--examples", "4")
    assert len(count_builds) == 2 and len(list((out / EXAMPLES_DIR).glob("*.png"))) == 4


def test_example_keeper_keeps_the_smallest_ids_per_split(tmp_path):
    keeper = ExampleKeeper(tmp_path, n=2, radius_km=100.0)
    from geoxai.report.examples import example_payload

    def payload(i):
        return example_payload(i, np.zeros((3, 4, 4), np.uint8), np.zeros((4, 4), np.float32),
                               np.zeros((4, 4), np.int32), {"cell": 0}, ["sky"])

    for image_id, gcd in (("d", 1.0), ("c", 500.0), ("b", 2.0), ("a", 3.0), ("e", 600.0), ("b2", 700.0)):
        keeper.offer({"image_id": image_id, "gcd_km": gcd, "status": "ok"}, payload(image_id))
    assert sorted(keeper.kept[True]) == ["a", "b"] and sorted(keeper.kept[False]) == ["b2", "c"]
    names = sorted(p.name for p in (tmp_path / EXAMPLES_DIR / DATA_DIR).glob("*.npz"))
    assert len(names) == 4
    again = ExampleKeeper(tmp_path, n=2, radius_km=100.0)  # a resumed run starts from the files
    assert again.kept[True].keys() == keeper.kept[True].keys() and not again.wants("z", 1.0)
    assert json.loads(json.dumps(read_payload(keeper.kept[True]["a"])["prediction"])) == {"cell": 0}
