"""The sample photos shipped inside the package: reachable from any folder, licensed, small."""
import subprocess
import sys

import pytest

import geoxai.data


def test_every_sample_is_a_small_jpeg_with_its_licence_written_down():
    samples = geoxai.data.samples()
    assert {"chelsea", "coffee", "astronaut", "rocket"} <= set(samples)
    provenance = (geoxai.data.SAMPLES_DIR / "README.md").read_text()
    for name, path in samples.items():
        assert path.read_bytes()[:2] == b"\xff\xd8" and path.stat().st_size <= 100_000
        assert f"`{name}.jpg`" in provenance


def test_sample_gives_a_path_that_loads_and_an_unknown_name_lists_the_known(tmp_path):
    from geoxai.io.images import load_image

    image = load_image(geoxai.data.sample("chelsea"))
    assert image.shape == (300, 451, 3)
    with pytest.raises(ValueError, match="known samples: astronaut, chelsea"):
        geoxai.data.sample("nope")


def test_samples_command_prints_paths_from_any_folder(tmp_path):
    from click.testing import CliRunner

    from geoxai.cli import main

    result = CliRunner().invoke(main, ["samples", "coffee"])
    assert result.exit_code == 0 and result.output.strip() == str(geoxai.data.sample("coffee"))
    listing = CliRunner().invoke(main, ["samples"]).output.split()
    assert listing == [str(p) for p in geoxai.data.samples().values()]
    bad = CliRunner().invoke(main, ["samples", "nope"])
    assert bad.exit_code == 1 and "unknown sample photo 'nope'" in bad.output
    # import geoxai.data imports no torch
    code = "import sys, geoxai.data; geoxai.data.sample('rocket'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
