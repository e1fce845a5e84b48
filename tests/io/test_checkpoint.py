"""load_checkpoint: crafted checkpoints are refused with no side effect; official formats still load."""
from __future__ import annotations

import argparse
import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict

import pytest
import torch

from geoxai.io.checkpoint import CheckpointRefusedError, load_checkpoint, load_state_dict


# ---- crafting pickles -------------------------------------------------------------------------
def _call(module: str, name: str, *args) -> bytes:
    """Protocol-2 pickle opcodes for ``module.name(*args)`` (args pickled normally)."""
    body = pickle.dumps(args, protocol=2)[2:-1]  # drop PROTO header and STOP
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + body + b"R."


def _zip_checkpoint(path, data_pkl: bytes) -> None:
    """A torch zip checkpoint whose data.pkl is ``data_pkl`` (the rest as torch.save writes it)."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, data_pkl if item.filename.endswith("/data.pkl") else src.read(item))


class _Reduce:
    """Pickles as ``func(*args)``: the way an attacker's object reaches torch.save or pickle.dump."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _corpus(tmp_path, sentinel):
    s = str(sentinel)
    write_code = f"open({s!r}, 'w').write('pwned')"
    calls = {
        "torch.save": _call("torch", "save", "pwned", s),
        "torch.serialization.save": _call("torch.serialization", "save", "pwned", s),
        "torch.set_default_dtype": b"\x80\x02ctorch\nset_default_dtype\nctorch\nfloat64\n\x85R.",
        "torch.hub.load_state_dict_from_url": _call("torch.hub", "load_state_dict_from_url", "http://127.0.0.1:9/x"),
        "builtins.eval": _call("builtins", "eval", write_code),
        "builtins.exec": _call("builtins", "exec", write_code),
        "os.system": _call("os", "system", f"touch {s}"),
        "posix.system": _call("posix", "system", f"touch {s}"),
        "subprocess.run": _call("subprocess", "run", ["touch", s]),
        "subprocess.Popen": _call("subprocess", "Popen", ["touch", s]),
        # getattr(__import__("os"), "system")("touch ...")
        "builtins.getattr": (b"\x80\x02cbuiltins\ngetattr\n(cbuiltins\n__import__\n(X\x02\x00\x00\x00ostR"
                             b"X\x06\x00\x00\x00systemtR(X" + len(f"touch {s}").to_bytes(4, "little")
                             + f"touch {s}".encode() + b"tR."),
        # the stand-in for Lightning's AttributeDict is dict: dict's own methods stay out of reach
        "builtins.dict.update via getattr": b"\x80\x02cbuiltins\ngetattr\n(cpytorch_lightning.utilities.parsing\n"
                                            b"AttributeDict\nX\x06\x00\x00\x00updatetR.",
    }
    files = {}
    for name, data in calls.items():
        files[f"zip {name}"] = tmp_path / f"{name}.ckpt"
        _zip_checkpoint(files[f"zip {name}"], data)
    # an object whose __reduce__ calls torch.save, written by torch.save itself (new and legacy format)
    evil = {"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": _Reduce(torch.save, "pwned", s)}
    files["torch.save in a real checkpoint"] = tmp_path / "real.ckpt"
    torch.save(evil, files["torch.save in a real checkpoint"])
    files["legacy non-zip checkpoint"] = tmp_path / "legacy.pth"
    torch.save(evil, files["legacy non-zip checkpoint"], _use_new_zipfile_serialization=False)
    files["raw pickle"] = tmp_path / "raw.pkl"
    files["raw pickle"].write_bytes(pickle.dumps(_Reduce(exec, write_code), protocol=2))
    files["raw pickle protocol 5"] = tmp_path / "raw5.pkl"
    files["raw pickle protocol 5"].write_bytes(pickle.dumps(_Reduce(eval, write_code), protocol=5))
    return files


@pytest.fixture
def sentinel(tmp_path):
    return tmp_path / "sentinel.txt"


def test_every_crafted_checkpoint_is_refused_without_side_effect(tmp_path, sentinel):
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    allowed = set(map(repr, torch.serialization.get_safe_globals()))
    files = _corpus(tmp_path, sentinel)
    assert len(files) == 16
    for label, path in files.items():
        with pytest.raises(ValueError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: "), (label, message)
        assert not sentinel.exists(), f"{label}: the crafted checkpoint ran code"
        assert torch.get_default_dtype() == dtype and torch.get_num_threads() == threads, label
    assert set(map(repr, torch.serialization.get_safe_globals())) == allowed  # scoped to each load


@pytest.mark.parametrize("label, refused", [
    ("zip torch.save", "torch.save"), ("zip torch.serialization.save", "torch.serialization.save"),
    ("zip torch.set_default_dtype", "torch.set_default_dtype"), ("zip builtins.eval", "eval"),
    ("zip posix.system", "posix.system"), ("zip os.system", "os.system"),
    ("zip subprocess.Popen", "subprocess.Popen"), ("zip builtins.getattr", "getattr"),
    ("torch.save in a real checkpoint", "torch.serialization.save"),
    ("legacy non-zip checkpoint", "torch.serialization.save"), ("raw pickle", "exec"),
])
def test_refusal_names_the_file_and_the_global(tmp_path, sentinel, label, refused):
    path = _corpus(tmp_path, sentinel)[label]
    with pytest.raises(CheckpointRefusedError) as info:
        load_checkpoint(path)
    assert info.value.refused == refused
    assert f"asks for {refused}," in str(info.value) and str(path) in str(info.value)


def test_unreadable_files_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    truncated = tmp_path / "cut.pth"
    torch.save({"w": torch.zeros(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    for path in (junk, truncated):
        with pytest.raises(ValueError, match="not a readable PyTorch checkpoint") as info:
            load_checkpoint(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match="expected a state_dict"):
        torch.save([1, 2], tmp_path / "list.pth")
        load_state_dict(tmp_path / "list.pth")


# ---- the official formats -----------------------------------------------------------------------
@pytest.fixture
def lightning_modules(monkeypatch):
    """Lightning's classes at their real module paths, for writing checkpoints as Lightning does
    (Lightning is not a dependency of geoxai)."""
    classes = {}
    for module, name in [("pytorch_lightning.utilities.parsing", "AttributeDict"),
                         ("lightning_fabric.utilities.data", "AttributeDict"),
                         ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")]:
        parts = module.split(".")
        for i in range(1, len(parts)):  # the parent packages, so that pickle can import the module
            parent = ".".join(parts[:i])
            if parent not in sys.modules:
                monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
        mod = sys.modules.get(module) or types.ModuleType(module)
        base = (dict,) if name == "AttributeDict" else (object,)
        cls = type(name, base, {"__module__": module})
        setattr(mod, name, cls)
        monkeypatch.setitem(sys.modules, module, mod)
        classes[f"{module}.{name}"] = cls
    return classes


def _lightning_checkpoint(classes, attribute_dict, state):
    hparams = classes[attribute_dict](arch="resnet50", partitionings={"files": ["a.csv"], "shortnames": ["fine"]},
                                      optim={"params": {"lr": 0.01}})
    model_checkpoint = classes["pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"]
    sgd = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(sgd, milestones=[4, 8])  # its state holds a Counter
    return {"epoch": 14, "global_step": 1000, "pytorch-lightning_version": "1.0.1", "state_dict": state,
            "callbacks": {model_checkpoint: {"monitor": "val_loss", "best_model_score": torch.tensor(18.48),
                                             "best_model_path": "/ckpts/epoch=014.ckpt"}},
            "optimizer_states": [sgd.state_dict()], "lr_schedulers": [sched.state_dict()],
            "hparams_name": "hparams", "hyper_parameters": hparams}


@pytest.mark.parametrize("attribute_dict", ["pytorch_lightning.utilities.parsing.AttributeDict",
                                            "lightning_fabric.utilities.data.AttributeDict"])
def test_lightning_checkpoint_loads_with_inert_stand_ins(tmp_path, lightning_modules, attribute_dict):
    state = OrderedDict(w=torch.randn(3, 2), b=torch.randn(3))
    path = tmp_path / "epoch=014-val_loss=18.4833.ckpt"
    torch.save(_lightning_checkpoint(lightning_modules, attribute_dict, state), path)
    loaded = load_checkpoint(path)
    assert type(loaded["hyper_parameters"]) is dict  # the stand-in: a plain dict, not Lightning's class
    assert loaded["hyper_parameters"]["arch"] == "resnet50"
    assert loaded["hyper_parameters"]["partitionings"]["shortnames"] == ["fine"]
    (key,) = loaded["callbacks"]
    assert key.__module__ == "geoxai.io.checkpoint" and loaded["callbacks"][key]["monitor"] == "val_loss"
    assert loaded["lr_schedulers"][0]["milestones"] == {4: 1, 8: 1}
    assert list(loaded["state_dict"]) == ["w", "b"]
    for k in state:
        assert torch.equal(loaded["state_dict"][k], state[k])


def test_namespace_hparams_and_legacy_state_dict_load(tmp_path):
    state = {"conv.weight": torch.randn(4, 3, 3, 3)}
    path = tmp_path / "base.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": argparse.Namespace(arch="resnet50", image_size=224)}, path)
    loaded = load_checkpoint(path)
    assert loaded["hyper_parameters"] == argparse.Namespace(arch="resnet50", image_size=224)
    legacy = tmp_path / "encoder_epoch_30.pth"  # CSAIL's HRNet files predate torch's zip format
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(load_state_dict(legacy)["conv.weight"], state["conv.weight"])


def test_a_module_class_in_the_file_is_refused(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # a pickled nn.Module, not a state_dict
    with pytest.raises(CheckpointRefusedError, match="torch.nn.modules.linear.Linear"):
        load_checkpoint(path)


# ---- the entry points a user reaches a checkpoint through ------------------------------------------
def test_model_weights_cannot_write_files(tmp_path, sentinel, photo_files):
    """``geoxai.load_model("semp", weights=...)`` and ``geoxai predict --weights``: the crafted file's
    ``torch.save`` call (which the old restricted unpickler let through) never runs."""
    from click.testing import CliRunner

    import geoxai
    from geoxai.cli import main

    crafted = tmp_path / "file.ckpt"
    _zip_checkpoint(crafted, _call("torch", "save", "import os  # a .pth line runs at start-up", str(sentinel)))
    with pytest.raises(CheckpointRefusedError, match="asks for torch.save"):
        geoxai.load_model("semp", weights=str(crafted))
    assert not sentinel.exists()
    result = CliRunner().invoke(main, ["predict", "--model", "semp", "--weights", str(crafted), str(photo_files[0])])
    assert result.exit_code != 0 and not sentinel.exists()
    assert f"{crafted}: refused to load: the checkpoint asks for torch.save" in result.output


def test_refusal_survives_pickling(tmp_path, sentinel):
    """A report worker process sends the error back to the driver."""
    path = _corpus(tmp_path, sentinel)["zip os.system"]
    with pytest.raises(CheckpointRefusedError) as info:
        load_checkpoint(path)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.refused == "os.system"
