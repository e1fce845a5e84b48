"""What the fuzz harness fed the commands (issue 13, section 3): clashing output names,
file names that are not UTF-8, too long or hold a newline, empty input. Each bad file gets one
line naming it (escaped); every other image's result is kept."""
import csv
import json
import os

import pytest
from click.testing import CliRunner
from PIL import Image

from geoxai.cli import main
from geoxai.testing import synthetic_photo

BAD_BYTES = b"caf\xff.jpg"
ESCAPED = "caf\\xff.jpg"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _photo(path, seed=0, gps=None):
    exif = Image.Exif()
    if gps is not None:
        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            return (d, m, round(((v - d) * 60 - m) * 60, 4))
        exif[0x8825] = {1: "N" if gps[0] >= 0 else "S", 2: dms(gps[0]), 3: "E" if gps[1] >= 0 else "W",
                        4: dms(gps[1])}
    Image.fromarray(synthetic_photo(seed, 64, 80)).save(path, quality=90, exif=exif)
    return path


def _bad_name(folder) -> str:
    return os.fsdecode(os.path.join(os.fsencode(folder), BAD_BYTES))


@pytest.fixture
def mixed_folder(tmp_path):
    """good1.jpg, a photo named with an undecodable byte, good2.jpg (all geotagged)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "good1.jpg", 1, gps=(48.85, 2.35))
    _photo(_bad_name(folder), 2, gps=(41.39, 2.17))
    _photo(folder / "good2.jpg", 3, gps=(-33.9, 151.2))
    return folder


def _error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# ---- output names ---------------------------------------------------------------------------
@pytest.mark.parametrize("with_segmenter", [False, True])
def test_explain_output_names_are_unique_and_stable(tmp_path, with_segmenter):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed, name in enumerate(("x.jpg", "x.png", "x_2.jpg")):
        Image.fromarray(synthetic_photo(seed, 64, 64)).save(folder / name)
    extra = ["--segmenter", "tiny", "--k", "50"] if with_segmenter else []
    names = []
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        result = run("explain", folder, "-m", "tiny", "-e", "gradcam", "-O", out, *extra)
        assert result.exit_code == 0, result.output
        docs = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
        assert sorted(os.path.basename(d["image"]) for d in docs.values()) == ["x.jpg", "x.png", "x_2.jpg"]
        names.append(sorted(docs))
        for name, doc in docs.items():
            stem = name[:-len(".json")]
            assert (out / doc["map"]["file"]).exists() and doc["map"]["file"] == f"{stem}.npy"
            if with_segmenter:
                assert (out / f"{stem}_figure.png").exists()
    assert names[0] == names[1] == ["x.jpg.json", "x.png.json", "x_2.json"]


# ---- names that are not UTF-8 ---------------------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "explain", "segment"])
def test_a_non_utf8_name_is_one_escaped_line_and_the_rest_is_kept(mixed_folder, tmp_path, command):
    out = tmp_path / "out"
    args = {"predict": ["predict", mixed_folder, "-m", "tiny", "--json"],
            "explain": ["explain", mixed_folder, "-m", "tiny", "-e", "gradcam", "-O", out],
            "segment": ["segment", mixed_folder, "-s", "tiny", "-O", out]}[command]
    result = run(*args)
    assert result.exit_code == 1, result.output
    (line,) = _error_lines(result)
    assert ESCAPED in line and "not valid UTF-8" in line
    if command == "predict":
        assert len(result.stdout.splitlines()) == 2
    else:
        assert sorted(p.name for p in out.glob("*.json")) == ["good1.json", "good2.json"]


def test_evaluate_keeps_every_other_result_of_a_non_utf8_name(mixed_folder, tmp_path):
    out = tmp_path / "eval"
    result = run("evaluate", "-m", "tiny", "--data", mixed_folder, "-O", out, "--quiet", "--workers", "0")
    assert result.exit_code == 1, result.output  # refused images make the status non-zero
    assert json.loads((out / "accuracy.json").read_text())["failed"] == 1
    with open(out / "predictions.csv", encoding="utf-8") as fh:
        assert sorted(r["id"] for r in csv.DictReader(fh)) == ["good1.jpg", "good2.jpg"]
    with open(out / "failed.csv", encoding="utf-8") as fh:
        (failed,) = list(csv.DictReader(fh))
    assert failed["id"] == ESCAPED and "not valid UTF-8" in failed["reason"]


def test_report_keeps_every_other_row_of_a_non_utf8_name(mixed_folder, tmp_path):
    from geoxai.report.store import PartStore

    out = tmp_path / "rep"
    result = run("report", "-m", "tiny", "-e", "gradcam", "-s", "tiny", "--data", mixed_folder, "-O", out,
                 "--k", "50", "--min-images", "1", "--workers", "0", "--quiet")
    assert result.exit_code == 1, result.output  # refused images make the status non-zero
    assert "1 image(s) failed" in result.output
    assert json.loads((out / "summary.json").read_text())["counts"]["failed"] == 1
    rows = PartStore(out).read_images().set_index("image_id")
    assert rows.loc["good1.jpg", "status"] == rows.loc["good2.jpg", "status"] == "ok"
    assert rows.loc[ESCAPED, "status"] == "failed" and "not valid UTF-8" in rows.loc[ESCAPED, "error"]


# ---- names too long to exist ----------------------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "explain"])
def test_an_overlong_name_is_one_line_and_the_rest_goes_on(photo_files, tmp_path, command):
    long_path = tmp_path / ("n" * 300 + ".jpg")
    out = tmp_path / "out"
    extra = ["-e", "gradcam", "-O", out] if command == "explain" else []
    result = run(command, photo_files[0], long_path, photo_files[1], "-m", "tiny", *extra)
    assert result.exit_code == 1, result.output
    (line,) = _error_lines(result)
    assert "file name longer than 255 bytes" in line
    if command == "predict":
        assert len(result.stdout.splitlines()) >= 2 and str(photo_files[1]) in result.stdout
    else:
        assert len(list(out.glob("*.json"))) == 2


def test_evaluate_goes_on_when_a_csv_names_an_overlong_file(photo_files, tmp_path):
    data = tmp_path / "data.csv"
    rows = [(photo_files[0], 10, 10), ("m" * 300 + ".jpg", 20, 20), (photo_files[1], 30, 30)]
    data.write_text("image,lat,lon\n" + "".join(f"{p},{a},{b}\n" for p, a, b in rows))
    out = tmp_path / "eval"
    result = run("evaluate", "-m", "tiny", "--data", data, "-O", out, "--quiet")
    assert result.exit_code == 1, result.output
    assert len((out / "predictions.csv").read_text().splitlines()) == 3  # header + 2
    assert "file name longer than 255 bytes" in (out / "failed.csv").read_text()


# ---- a newline in a name --------------------------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "explain", "segment"])
def test_a_newline_in_a_bad_files_name_does_not_split_its_error(photo_files, tmp_path, command):
    bad = tmp_path / "bad\nname.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    extra = {"predict": ["-m", "tiny"], "explain": ["-m", "tiny", "-e", "gradcam", "-O", out],
             "segment": ["-s", "tiny", "-O", out]}[command]
    result = run(command, photo_files[0], bad, *extra)
    assert result.exit_code == 1
    (line,) = _error_lines(result)
    assert "bad\\nname.jpg: not an image" in line
    assert "name.jpg" not in result.stderr.replace(line, "")


# ---- empty input ----------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["empty", "unsupported"])
@pytest.mark.parametrize("command", ["predict", "explain", "segment"])
def test_no_images_is_an_error_naming_the_folder(tmp_path, command, content):
    folder = tmp_path / "in"
    folder.mkdir()
    if content == "unsupported":
        for name in ("a.heic", "b.avif", "c.svg"):
            (folder / name).write_bytes(b"<svg/>")
    extra = {"predict": ["-m", "tiny"], "explain": ["-m", "tiny", "-O", tmp_path / "out"],
             "segment": ["-s", "tiny", "-O", tmp_path / "out"]}[command]
    result = run(command, folder, *extra)
    assert result.exit_code == 1
    assert f"no images found in {folder}" in result.output
    if content == "unsupported":
        assert ".heic" in result.output and ".svg" in result.output


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_an_empty_dataset_is_an_error(tmp_path, command):
    data = tmp_path / "data.csv"
    data.write_text("image,lat,lon\n")
    args = ["-m", "tiny", "--data", data, "--quiet"]
    if command == "report":
        args += ["-e", "gradcam", "-s", "tiny", "-O", tmp_path / "rep"]
    result = run(command, *args)
    assert result.exit_code == 1, result.output
    assert "no images found" in result.output and str(data) in result.output
