"""What the CLI says about its situation: random weights, warnings on one line, plugin failures on one line."""
import warnings

import pytest
from click.testing import CliRunner

from geoxai.cli import main
from geoxai.testing import synthetic_photo


@pytest.fixture
def photo(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(synthetic_photo(0)).save(path)
    return path


def test_random_weight_plugins_are_announced_once_each_on_stderr(photo, tmp_path):
    result = CliRunner().invoke(main, ["explain", "-m", "tiny", "-e", "gradcam", "--segmenter", "tiny", str(photo),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "random" in line]
    assert notes == [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 2 and "model 'tiny'" in notes[0] and "segmenter 'tiny'" in notes[1]
    assert "note:" not in result.stdout


def test_trained_weights_are_not_announced(tmp_path):
    from geoxai.plugins import announce_random_weights, declares_random_weights, has_random_weights, registry

    heard = []
    announce_random_weights(heard.append)
    try:
        model = registry().get("model", "imagenet-lite0").build()
        tiny = registry().get("model", "tiny").build()
    finally:
        announce_random_weights(None)
    assert not has_random_weights(model) and has_random_weights(tiny)
    assert heard == ["note: model 'tiny' has random weights, not trained ones: what it outputs means nothing "
                     "(fine for trying geoxai out)"]
    assert declares_random_weights("model", "tiny") and not declares_random_weights("model", "tiny", {"weights": "w"})
    assert declares_random_weights("segmenter", "tiny") and not declares_random_weights("model", "imagenet-lite0")
    assert declares_random_weights("model", "s2", {"pretrained": False})
    assert not declares_random_weights("model", "s2") and not declares_random_weights("model", "no-such-model")


def test_a_warning_in_a_command_prints_as_one_line_without_source(tmp_path):
    """In a real process (pytest records warnings itself): a multi-line warning raised inside a
    command is one line on stderr, with no file name and no code line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import warnings\n"
        "from geoxai.cli import main, samples\n"
        "original = samples.command.callback\n"
        "def warn_then_list(names):\n"
        "    warnings.warn('something odd\\nabout this', RuntimeWarning)\n"
        "    return original(names)\n"
        "samples.command.callback = warn_then_list\n"
        "main(['samples', 'chelsea'], prog_name='geoxai')\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "warning: something odd about this\n"
    assert done.stdout.strip().endswith("chelsea.jpg")


def test_the_cli_restores_python_warning_format_when_a_command_ends():
    saved = warnings.formatwarning
    assert CliRunner().invoke(main, ["samples", "chelsea"]).exit_code == 0
    assert warnings.formatwarning is saved


def test_a_plugin_that_fails_in_an_unforeseen_way_is_one_line(photo, tmp_path):
    import geoxai.plugins as plugins

    def broken(**_):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load this file,\ncheck your connection")

    plugins.registry().add(plugins.Registration("model", "offline-net", broken, "third-party"))
    result = CliRunner().invoke(main, ["explain", "-m", "offline-net", str(photo), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        "Error: model 'offline-net' could not be built: OSError: We couldn't connect to "
        "'https://huggingface.co' to load this file,")
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1
    with pytest.raises(plugins.PluginBuildError) as raised:
        plugins.load_model("offline-net")
    assert isinstance(raised.value.__cause__, OSError)  # Python users keep the original
