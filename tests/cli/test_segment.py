"""``geoxai segment``: paletted label maps + area fractions per image; bad images don't stop the rest."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.concepts import ade20k_palette


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/segmenters/conftest.py
    yield
    torch.set_num_threads(before)


def _check_outputs(out, stem, size, concepts=None):
    with Image.open(out / f"{stem}.png") as im:
        assert im.mode == "P" and im.size == size
        labels = np.asarray(im)
        pal = np.asarray(im.getpalette(), dtype=np.uint8).reshape(-1, 3)
    assert np.array_equal(pal[:len(ade20k_palette())][: labels.max() + 1], ade20k_palette()[: labels.max() + 1])
    fractions = json.loads((out / f"{stem}.json").read_text())
    assert abs(sum(fractions.values()) - 1.0) < 1e-9
    assert list(fractions.values()) == sorted(fractions.values(), reverse=True)
    if concepts is not None:
        counts = np.bincount(labels.reshape(-1), minlength=len(concepts))
        assert fractions == {concepts[i]: counts[i] / labels.size for i in np.argsort(-counts, kind="stable")
                             if counts[i]}
    return fractions


def test_writes_paletted_png_and_fractions(photo_files, tmp_path):
    from geoxai.testing import TinySegmenter

    out = tmp_path / "seg"
    result = CliRunner().invoke(main, ["segment", *map(str, photo_files[:2]), "--segmenter", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    concepts = TinySegmenter().concepts
    for path in photo_files[:2]:
        with Image.open(path) as im:
            size = im.size
        _check_outputs(out, path.stem, size, concepts)


def test_bad_image_reported_others_written(photo_files, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a jpeg")
    out = tmp_path / "seg"
    result = CliRunner().invoke(main, ["segment", str(broken), str(photo_files[0]), "--segmenter", "tiny",
                                       "--out", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert (out / f"{photo_files[0].stem}.png").exists() and not (out / "broken.png").exists()


def test_hrnet_random_weights_end_to_end(photo_files, tmp_path):
    out = tmp_path / "seg"
    result = CliRunner().invoke(main, ["segment", str(photo_files[0]), "--out", str(out),
                                       "-o", "pretrained=false", "-o", "scales=[32]"])
    assert result.exit_code == 0, result.output
    with Image.open(photo_files[0]) as im:
        size = im.size
    fractions = _check_outputs(out, photo_files[0].stem, size)
    from geoxai.concepts import ade20k_concepts

    assert set(fractions) <= set(ade20k_concepts())


def test_missing_weights_folder_is_one_line_error(photo_files, tmp_path):
    result = CliRunner().invoke(main, ["segment", str(photo_files[0]), "--weights", str(tmp_path / "nowhere"),
                                       "--out", str(tmp_path / "seg")])
    assert result.exit_code != 0
    assert "must be a folder holding encoder_epoch_30.pth" in result.output
    assert "Traceback" not in result.output


def test_help():
    result = CliRunner().invoke(main, ["segment", "--help"])
    assert result.exit_code == 0 and "paletted PNG" in result.output


def test_same_named_photos_get_unique_output_stems():
    from pathlib import Path

    from geoxai.naming import unique_stems

    paths = [Path("a/photo.jpg"), Path("b/photo.png"), Path("c/other.jpg"), Path("d/photo.jpg")]
    # a clash keeps the extension; the same name twice (other folders) is numbered
    assert unique_stems(paths, separator="-") == ["photo.jpg", "photo.png", "other", "photo.jpg-2"]
    assert unique_stems(paths, separator="_") == ["photo.jpg", "photo.png", "other", "photo.jpg_2"]
