import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main


def _run(args):
    return CliRunner().invoke(main, ["explain", *args])


def test_explain_writes_npy_png_json(tmp_path, photo_files):
    out = tmp_path / "out"
    result = _run([*map(str, photo_files[:3]), "--model", "tiny", "--explainer", "ig-smoothgrad",
                   "-o", "n_steps=4", "-o", "n_samples=2", "--target", "region:EU", "--batch-size", "2",
                   "--out", str(out)])
    assert result.exit_code == 0, result.output
    for path in photo_files[:3]:
        heat = np.load(out / f"{path.stem}.npy")
        assert heat.shape == (64, 64) and heat.dtype == np.float32
        overlay = np.asarray(Image.open(out / f"{path.stem}_overlay.png"))
        assert overlay.shape == (64, 64, 3)
        doc = json.loads((out / f"{path.stem}.json").read_text())
        assert doc["model"] == "tiny" and doc["explainer"] == "ig-smoothgrad"
        assert doc["target"] == "region:EU" and doc["options"]["n_steps"] == 4
        assert doc["prediction"]["label"] and 0 <= doc["prediction"]["cell"] < 8
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_explain_same_map_as_api(tmp_path, photo_files):
    import geoxai
    from geoxai.io.images import load_image

    out = tmp_path / "out"
    result = _run([str(photo_files[0]), "-m", "tiny", "-e", "gradcam", "-o", "layer=stage2", "-t", "cell:3",
                   "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = geoxai.load_model("tiny")
    expected = geoxai.load_explainer("gradcam", layer="stage2").explain(
        model, model.prepare([load_image(photo_files[0])]), "cell:3")[0]
    np.testing.assert_allclose(np.load(out / f"{photo_files[0].stem}.npy"), expected.numpy(), rtol=1e-6)
    assert json.loads((out / f"{photo_files[0].stem}.json").read_text())["explained_cell"] == 3


def test_corrupt_image_one_line_error_others_written(tmp_path, photo_files):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in photo_files[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    result = _run([str(folder), "-m", "tiny", "-e", "lrp", "--out", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    for p in photo_files[:2]:
        assert (out / f"{p.stem}.npy").exists() and (out / f"{p.stem}.json").exists()
    assert not (out / "broken.npy").exists()


def test_bad_arguments(tmp_path, photo_files):
    result = _run([str(photo_files[0]), "-m", "tiny", "-t", "cell:x", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "invalid target" in result.output
    result = _run([str(photo_files[0]), "-m", "tiny", "-e", "gradcam", "-o", "nope=1", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "no option 'nope'" in result.output
    assert "Usage" in _run(["--help"]).output


def test_explain_json_holds_the_explainers_per_image_info(tmp_path, photo_files):
    out = tmp_path / "out"
    result = _run([*map(str, photo_files[:2]), "-m", "tiny", "-e", "ig-smoothgrad", "-o", "n_steps=2",
                   "-o", "n_samples=2", "-o", "completeness_copies=2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for path in photo_files[:2]:
        info = json.loads((out / f"{path.stem}.json").read_text())["explainer_info"]
        assert info["n_samples"] == 2 and info["n_steps"] == 2 and info["passes"] == 4
        assert isinstance(info["completeness"], float) and 0 <= info["noise"]
    # an explainer that reports nothing adds nothing
    result = _run([str(photo_files[0]), "-m", "tiny", "-e", "gradcam", "--out", str(tmp_path / "cam")])
    assert result.exit_code == 0, result.output
    assert "explainer_info" not in json.loads((tmp_path / "cam" / f"{photo_files[0].stem}.json").read_text())
