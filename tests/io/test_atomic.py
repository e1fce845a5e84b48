import pytest

from geoxai.io.atomic import atomic_path, write_bytes_atomic, write_text_atomic


def test_success_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    assert write_text_atomic(target, "one") == target
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["b.bin", "out.txt", "sub"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_files_get_the_mode_a_plain_open_gives(tmp_path, umask):
    import os
    import stat

    old = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("x")
        write_text_atomic(tmp_path / "text.txt", "x")
        write_bytes_atomic(tmp_path / "bytes.bin", b"x")
        with atomic_path(tmp_path / "path.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    plain = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert plain == 0o666 & ~umask
    for name in ("text.txt", "bytes.bin", "path.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == plain, name


def test_stale_temporaries_are_removed(tmp_path):
    from geoxai.io.atomic import remove_stale_temporaries

    (tmp_path / ".summary.csv.abcd.tmp").write_text("half")
    (tmp_path / "keep.tmp").write_text("not ours")
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tmp"]
