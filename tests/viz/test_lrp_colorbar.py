"""The figure's colour bar says what an LRP map measures (issue 22 §5): on a network with biases
the map is relevance the biases did not absorb, not a share of the score."""
from __future__ import annotations

import matplotlib.colorbar
import pytest
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.testing import synthetic_photo
from geoxai.viz.figure import map_units


@pytest.fixture
def colorbar_labels(monkeypatch):
    labels: list[str] = []
    real = matplotlib.colorbar.Colorbar.set_label

    def record(self, label, *args, **kwargs):
        if label:  # matplotlib sets an empty one itself
            labels.append(str(label))
        return real(self, label, *args, **kwargs)

    monkeypatch.setattr(matplotlib.colorbar.Colorbar, "set_label", record)
    return labels


@pytest.mark.parametrize("explainer", ["lrp", "gradcam"])
def test_explain_figure_labels_the_lrp_colour_bar(tmp_path, colorbar_labels, explainer):
    photo = tmp_path / "p.png"
    Image.fromarray(synthetic_photo(seed=2, height=64, width=64)).save(photo)
    result = CliRunner().invoke(main, ["explain", str(photo), "--model", "tiny", "--explainer", explainer,
                                       "--segmenter", "tiny", "--k", "50", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "p_figure.png").exists()
    assert len(colorbar_labels) == 1 and colorbar_labels[0].startswith(map_units(explainer))
    assert ("biases absorb" in colorbar_labels[0]) == (explainer == "lrp")
