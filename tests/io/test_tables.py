"""One CSV reader for datasets, coordinates, partitionings and cells (issue 13 section 3, issue 17)."""
import numpy as np
import pytest
from PIL import Image

from geoxai.io.datasets import DatasetError, read_dataset
from geoxai.io.tables import TableError, read_table
from geoxai.types import Partitioning


def test_a_row_shorter_than_its_header_names_the_file_and_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("image,lat,lon,id\na.jpg,1,2,a\n\nb.jpg,3\n")
    with pytest.raises(DatasetError, match=r"data.csv:4: row has 2 field\(s\) but the header has 4") as info:
        read_dataset(path)
    assert "\n" not in str(info.value)
    path.write_text("image,lat,lon\na.jpg,1,2,extra\n")
    with pytest.raises(DatasetError, match=r"data.csv:2: row has 4 field\(s\) but the header has 3"):
        read_dataset(path)


def test_image_cells_are_not_stripped_and_ids_stay_strings(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / " lead.jpg")
    (tmp_path / "data.csv").write_text("image,lat,lon,id\n lead.jpg,1.5,2.5,007\n")
    (sample,) = read_dataset(tmp_path / "data.csv")
    assert sample.image == tmp_path / " lead.jpg" and sample.image.is_file()
    assert sample.id == "007" and (sample.lat, sample.lon) == (1.5, 2.5)


def test_datasets_accept_every_alias_and_a_bom(tmp_path):
    (tmp_path / "data.csv").write_text("\ufeffPath,Latitude,long\nx.jpg,1,2\n", encoding="utf-8")
    (sample,) = read_dataset(tmp_path / "data.csv")
    assert sample.image == tmp_path / "x.jpg" and (sample.lat, sample.lon) == (1.0, 2.0)


def test_partitioning_from_csv_names_a_missing_column(tmp_path):
    path = tmp_path / "part.csv"
    path.write_text("key,lat,lon\nA,1,2\n")
    with pytest.raises(ValueError, match=r"part.csv: missing column\(s\) index; found key, lat, lon"):
        Partitioning.from_csv(path)
    path.write_text("index,key,lat,lon,label,parent,count\n1,B,3,4,,,\n0,A,1,2,Alpha,-1,5\n")
    part = Partitioning.from_csv(path)
    assert part.keys == ["A", "B"] and part.lat.tolist() == [1.0, 3.0] and part.labels == ["Alpha", ""]
    assert part.parent.tolist() == [-1, -1] and part.counts is None
    path.write_text("index,key,lat,lon\n0,A,north,2\n")
    with pytest.raises(ValueError, match="part.csv:2: lat 'north' is not a number"):
        Partitioning.from_csv(path)


def test_round_trip_keeps_keys_exactly(tmp_path):
    part = Partitioning("p", keys=["007", "NA", " x"], lat=[1, 2, 3], lon=[4, 5, 6], labels=["a", "b", "c"],
                        parent=[-1, -1, -1], counts=[1, 2, 3])
    part.to_csv(tmp_path / "p.csv")
    back = Partitioning.from_csv(tmp_path / "p.csv")
    assert back.keys == part.keys and back.counts.tolist() == [1, 2, 3]
    assert np.array_equal(back.lat, part.lat)


def test_read_table_roles_preamble_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("partitioning: x\nmore preamble\nclass_label,LAT,Lng\n0,1,2\n")
    table = read_table(path, required=["lat", "lon"], header_starts_with="class_label")
    assert table.floats("lat").tolist() == [1.0] and table.line(0) == 4
    with pytest.raises(FileNotFoundError, match="gone.csv: CSV file not found"):
        read_table(tmp_path / "gone.csv")
    (tmp_path / "bin.csv").write_bytes(b"lat,lon\n\xff\xfe,1\n")
    with pytest.raises(TableError, match="bin.csv: not a UTF-8 CSV file"):
        read_table(tmp_path / "bin.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TableError, match="empty.csv: empty CSV file"):
        read_table(tmp_path / "empty.csv")
