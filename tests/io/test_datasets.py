import pytest
from PIL import Image

from geoxai.io.datasets import DatasetError, exif_gps, read_dataset


def _jpeg(path, gps=None):
    im = Image.new("RGB", (16, 12), (10, 120, 200))
    exif = Image.Exif()
    if gps is not None:
        lat, lon = gps
        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60, 4)
            return (d, m, s)
        exif[0x8825] = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
    im.save(path, exif=exif)
    return path


def test_geoxai_csv_with_relative_paths_and_ids(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "data.csv").write_text("image,lat,lon,id\na.jpg,41.39,2.17,first\nsub/b.jpg,-33.9,151.2,\n")
    s = read_dataset(tmp_path / "data.csv")
    assert [x.id for x in s] == ["first", "sub/b.jpg"]
    assert s[0].image == tmp_path / "a.jpg" and s[1].lat == -33.9 and s[1].lon == 151.2


def test_authors_layout_img_id_latitude_longitude(tmp_path):
    (tmp_path / "img").mkdir()
    _jpeg(tmp_path / "img" / "123_abc.jpg")
    (tmp_path / "im2gps3k.csv").write_text("img_id,latitude,longitude,extra\n123_abc.jpg,48.85,2.35,x\n")
    (s,) = read_dataset(tmp_path / "im2gps3k.csv")
    assert s.id == "123_abc.jpg" and s.image == tmp_path / "img" / "123_abc.jpg" and s.lat == 48.85


@pytest.mark.parametrize("text, message", [
    ("picture,lat\nx.jpg,1\n", r"data.csv: missing column\(s\) image, lon; found picture, lat"),
    ("image,lat,lon\nx.jpg,91,0\n", r"data.csv: 1 coordinate\(s\) out of range, first on line 2"),
    ("image,lat,lon\nx.jpg,abc,0\n", r"data.csv:2: latitude/longitude 'abc','0' are not numbers"),
    ("image,lat,lon\nx.jpg,1,1\nx.jpg,2,2\n", r"image id 'x.jpg' appears more than once"),
])
def test_bad_csv_gives_one_line_error_naming_the_file(tmp_path, text, message):
    (tmp_path / "data.csv").write_text(text)
    with pytest.raises(DatasetError, match=message) as info:
        read_dataset(tmp_path / "data.csv")
    assert "\n" not in str(info.value)


def test_folder_of_geotagged_photos(tmp_path):
    _jpeg(tmp_path / "bcn.jpg", (41.3874, 2.1686))
    _jpeg(tmp_path / "syd.jpg", (-33.8688, 151.2093))
    _jpeg(tmp_path / "none.jpg")
    s = {x.id: x for x in read_dataset(tmp_path)}
    assert set(s) == {"bcn.jpg", "syd.jpg"}
    assert s["syd.jpg"].lat == pytest.approx(-33.8688, abs=1e-4)
    assert s["syd.jpg"].lon == pytest.approx(151.2093, abs=1e-4)
    assert exif_gps(tmp_path / "none.jpg") is None
    with pytest.raises(DatasetError, match="no image with EXIF GPS"):
        read_dataset(_empty(tmp_path))


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    _jpeg(d / "x.jpg")
    return d


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv: dataset not found"):
        read_dataset(tmp_path / "nope.csv")
