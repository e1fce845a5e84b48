"""hf:// weights through huggingface_hub, against a pre-populated cache (no network)."""
import json
import socket

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import geoxai
from geoxai import hub
from geoxai.cli import main
from geoxai.testing import TinyGeoModel
from geoxai.weights import WeightsUnavailableError, load_state_dict, resolve

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _publish(files: dict, repo="someone/tiny-geo", commit=COMMIT):
    """Lay files out as huggingface_hub's cache does: refs/main -> snapshots/<commit>/<file>."""
    root = hub.cache_dir() / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    for name, writer in files.items():
        path = root / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path)
    return root


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def trained():
    model = TinyGeoModel(seed=7)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def test_parse_specs():
    assert hub.parse("hf://org/repo") == ("org/repo", None, None)
    assert hub.parse("hf://org/repo@v1.0/sub/model.safetensors") == ("org/repo", "v1.0", "sub/model.safetensors")
    with pytest.raises(ValueError, match="hf://ORG/REPO"):
        hub.parse("hf://just-a-name")


def test_safetensors_is_preferred_and_the_commit_recorded(offline, trained):
    _publish({"model.safetensors": lambda p: save_file(trained, str(p)),
              "pytorch_model.bin": lambda p: torch.save({}, p)})
    found = hub.download("hf://someone/tiny-geo")
    assert found.filename == "model.safetensors" and found.revision == COMMIT
    # reports pin the spec in config.json: every shard and resume reads the same commit and file
    assert hub.pinned("hf://someone/tiny-geo") == f"hf://someone/tiny-geo@{COMMIT}/model.safetensors"
    assert hub.download(hub.pinned("hf://someone/tiny-geo")).path == found.path
    model = geoxai.load_model("tiny", weights="hf://someone/tiny-geo")
    assert model.weights_provenance == {"spec": "hf://someone/tiny-geo", "repo": "someone/tiny-geo",
                                        "filename": "model.safetensors", "revision": COMMIT}
    assert torch.equal(model.heads[1].weight, trained["heads.1.weight"])


def test_pickles_load_through_the_safe_loader_only(offline, trained, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))

    _publish({"pytorch_model.bin": lambda p: torch.save(trained, p), "evil.bin": lambda p: torch.save(Evil(), p)},
             repo="someone/pickled")
    assert resolve("", "hf://someone/pickled").name == "pytorch_model.bin"
    assert torch.equal(load_state_dict(resolve("", "hf://someone/pickled"))["heads.0.bias"], trained["heads.0.bias"])
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        load_state_dict(resolve("", "hf://someone/pickled/evil.bin"))


def test_missing_offline_is_one_line_error_naming_repo_and_file(offline):
    with pytest.raises(WeightsUnavailableError) as info:
        resolve("", "hf://someone/absent@main/weights.safetensors")
    message = str(info.value)
    assert "someone/absent" in message and "weights.safetensors" in message and "\n" not in message


def test_unreachable_hub_falls_back_to_cache_and_cli_records_revision(monkeypatch, trained, tmp_path):
    with socket.socket() as s:  # a closed local port: every request fails fast
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _publish({"model.safetensors": lambda p: save_file(trained, str(p))}, repo="someone/served")
    photo = tmp_path / "photo.png"
    from PIL import Image

    from geoxai.testing import synthetic_photo
    Image.fromarray(synthetic_photo(seed=1, height=80, width=90)).save(photo)
    result = CliRunner().invoke(main, ["explain", "--model", "tiny", "--explainer", "gradcam", "--weights",
                                       f"hf://someone/served@{COMMIT}/model.safetensors", str(photo),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert record["weights"]["revision"] == COMMIT and record["weights"]["repo"] == "someone/served"
    missing = CliRunner().invoke(main, ["predict", "--model", "tiny", "--weights", "hf://someone/served/other.bin",
                                        str(photo)])
    assert missing.exit_code == 1 and "other.bin" in missing.output and "someone/served" in missing.output
    assert len([line for line in missing.output.splitlines() if line.startswith("Error")]) == 1
