"""Resume notices an image whose file changed in place (issue 22 §2): that image is computed
again, with no duplicated row; a file only touched is not."""
from __future__ import annotations

import os

from _report_helpers import BASE_ARGS, assert_same_rows, make_dataset, read_rows
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.jobs.stamps import HASHED_BYTES, image_stamp, stamp_changed
from geoxai.testing import synthetic_photo


def _report(data, out):
    return ["report", *BASE_ARGS, "--data", str(data), "--out", str(out), "--workers", "0", "--quiet"]


def test_an_image_edited_in_place_is_computed_again_and_a_touched_one_is_not(tmp_path):
    data = make_dataset(tmp_path / "data", n=3)
    out = tmp_path / "report"
    assert CliRunner().invoke(main, _report(data, out)).exit_code == 0
    before, _ = read_rows(out)

    edited, touched = data.parent / "p0.jpg", data.parent / "p1.jpg"
    st = edited.stat()
    Image.fromarray(synthetic_photo(999, 64, 72)).save(edited, quality=90)  # other pixels, same name
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with its old mtime
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))

    resumed = CliRunner().invoke(main, _report(data, out))
    assert resumed.exit_code == 0, resumed.output
    assert "1 image file(s) changed" in resumed.output and "img000" in resumed.output, resumed.output

    fresh = tmp_path / "fresh"
    assert CliRunner().invoke(main, _report(data, fresh)).exit_code == 0
    assert_same_rows(out, fresh)  # the edited image's rows are the new pixels', once
    after, _ = read_rows(out)
    assert len(after) == len(before) == 3
    changed = after.set_index("image_id").pred_prob.ne(before.set_index("image_id").pred_prob)
    assert changed["img000"] and not changed["img001"] and not changed["img002"]


def test_stamps_compare_size_then_hash_then_mtime(tmp_path):
    small = tmp_path / "a.bin"
    small.write_bytes(b"x" * 100)
    old = image_stamp(small)
    os.utime(small, ns=(0, 12345))
    assert not stamp_changed(old, image_stamp(small))  # touched: same bytes
    small.write_bytes(b"y" * 100)
    os.utime(small, ns=(0, 12345))
    assert stamp_changed(old, image_stamp(small))  # same size and mtime, other bytes
    big = tmp_path / "b.bin"
    big.write_bytes(b"x" * (HASHED_BYTES + 1))
    old_big = image_stamp(big)
    assert old_big.endswith(":")  # too large to hash: size and mtime decide
    os.utime(big, ns=(0, 999))
    assert stamp_changed(old_big, image_stamp(big))
    assert not stamp_changed(None, image_stamp(big))  # a row from before stamps is kept
