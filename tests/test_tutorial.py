"""docs/tutorial.ipynb runs from an empty folder, offline, and the committed copy shows its figures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.outputs)


def test_committed_tutorial_shows_its_figures():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert _images(nb) >= 3  # the explanation figure, the two maps, the deletion curves
    assert not [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                if out.output_type == "error"]


def test_tutorial_runs_from_an_empty_folder(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    work = tmp_path / "work"
    work.mkdir()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
    assert _images(nb) >= 3
    assert (work / "rocket_figure.png").exists() and (work / "report" / "report.html").exists()


def test_gallery_shows_every_photo_the_script_draws_and_stays_small():
    import re

    page = (ROOT / "docs" / "gallery.md").read_text()
    shown = re.findall(r"\]\((gallery/[\w.]+)\)", page)
    script = (ROOT / "docs" / "make_gallery.py").read_text()
    photos = re.findall(r'"(\w+)"', re.search(r"PHOTOS = \(([^)]*)\)", script).group(1))
    assert sorted(shown) == sorted(f"gallery/{name}.jpg" for name in photos)
    files = list((ROOT / "docs" / "gallery").iterdir())
    assert sorted(f"gallery/{f.name}" for f in files) == sorted(shown)
    assert sum(f.stat().st_size for f in files) < 1_500_000
