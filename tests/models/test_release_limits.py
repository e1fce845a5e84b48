"""Release zips are checked against size limits before anything is read or extracted (issue 22
§3), and errors name the zip and the member, never a temporary path."""
from __future__ import annotations

import zipfile

import pytest
import yaml

import geoxai.models.release as release_module
from geoxai.models.release import open_release, release_image_size

HPARAMS = yaml.safe_dump({"arch": "resnet50", "image_size": 32, "partitionings": {"files": ["m_2.csv"]}})


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def no_extraction(monkeypatch):
    """Fail the test if anything is extracted or read from the archive."""
    def refuse(*args, **kwargs):
        raise AssertionError("read or extracted before the limits were checked")
    monkeypatch.setattr(zipfile.ZipFile, "extract", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "read", refuse)


def test_a_zip_bomb_member_is_refused_before_extraction(tmp_path, no_extraction):
    bomb = _zip(tmp_path / "bomb.zip", {"rel/hparams.yaml": HPARAMS.encode(), "rel/base.ckpt": bytes(20 << 20)})
    assert bomb.stat().st_size < 200_000  # 20 MiB of zeros in a few KB
    with pytest.raises(ValueError, match=r"bomb\.zip: member rel/base\.ckpt expands .*x .*zip bomb") as info:
        with open_release(bomb):
            pass
    assert "geoxai-release-" not in str(info.value)


def test_member_and_total_sizes_are_checked_before_extraction(tmp_path, monkeypatch, no_extraction):
    members = {"hparams.yaml": HPARAMS.encode(), "base.ckpt": b"c" * 3000, "m_2.csv": b"x" * 3000}
    archive = _zip(tmp_path / "big.zip", members, compression=zipfile.ZIP_STORED)
    monkeypatch.setattr(release_module, "MAX_MEMBER_BYTES", 2000)
    with pytest.raises(ValueError, match=r"big\.zip: member base\.ckpt is 3,000 bytes; the limit is 2,000"):
        with open_release(archive):
            pass
    monkeypatch.setattr(release_module, "MAX_MEMBER_BYTES", 4000)
    monkeypatch.setattr(release_module, "MAX_TOTAL_BYTES", 5000)
    with pytest.raises(ValueError, match=r"big\.zip: [\d,]+ bytes unpacked; the limit is 5,000"):
        with open_release(archive):
            pass


def test_an_oversized_hparams_yaml_is_refused_unread(tmp_path, no_extraction):
    big = HPARAMS.encode() + b"#" * (2 << 20)  # stored: 2 MiB in the zip too, no bomb
    archive = _zip(tmp_path / "rel.zip", {"hparams.yaml": big, "base.ckpt": b"x"}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ValueError, match=r"rel\.zip: member hparams\.yaml is [\d,]+ bytes; an hparams\.yaml is"):
        release_image_size(archive)
    with pytest.raises(ValueError, match=r"rel\.zip: member hparams\.yaml is"):
        with open_release(archive):
            pass


def test_errors_inside_an_opened_zip_name_the_zip_and_member(tmp_path):
    archive = _zip(tmp_path / "rel.zip", {"r/hparams.yaml": HPARAMS.encode(), "r/base.ckpt": b"not a checkpoint"})
    with pytest.raises(ValueError) as info:
        with open_release(archive) as release:
            raise ValueError(f"{release.checkpoint}: not a checkpoint")
    assert str(info.value) == f"{archive}:r/base.ckpt: not a checkpoint"
    with open_release(archive) as release:
        assert release.image_size == 32  # a valid small release still opens
