"""SemP files: geoxai's and the public release's format describe the same partitionings."""
import json

import numpy as np
import pytest

from geoxai.partitions.semp import build_semp_partitionings
from geoxai.partitions.semp_files import load_semp, read_public_partitioning, write_semp


def _result():
    A = [("X/a/place:p", "P"), ("X/a", "A"), ("X", "Xland")]
    B = [("X/a/place:q", "Q"), ("X/a", "A"), ("X", "Xland")]
    C = [("Y/c/place:r", "R"), ("Y/c", "C"), ("Y", "Yland")]
    addresses = [A] * 4 + [B] * 2 + [C] * 3
    lat = np.linspace(10, 11, len(addresses))
    lon = np.linspace(20, 21, len(addresses))
    return build_semp_partitionings(lat, lon, addresses, tau_d=1, tau_min=(2, 6))


def test_both_formats_round_trip(tmp_path):
    result = _result()
    write_semp(result, tmp_path, ids=[f"img{i}.jpg" for i in range(9)])
    parts, hierarchy = load_semp(tmp_path)
    for a, b in zip(parts, result.partitionings):
        assert a.keys == b.keys and a.labels == b.labels and list(a.parent) == list(b.parent)
        np.testing.assert_allclose(a.lat, b.lat)
    assert hierarchy.parent == result.hierarchy.parent and hierarchy.names == result.hierarchy.names
    mapping = json.loads((tmp_path / "target_mapping.json").read_text())
    assert mapping["img0.jpg"] == result.targets[0].tolist()
    assert "img6.jpg" not in mapping  # Yland has fewer than 6 samples: unused at every level
    # without geoxai's manifest, the public m_<n>.csv + h_dict.json give the same partitionings
    (tmp_path / "semp.json").unlink()
    public, _ = load_semp(tmp_path)
    assert [p.name for p in public] == [f"m_{len(p)}" for p in result.partitionings]
    for a, b in zip(public, result.partitionings):
        assert a.keys == b.keys and a.labels == b.labels and list(a.parent) == list(b.parent)
        assert list(a.counts) == list(b.counts)


def test_bad_public_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "m_2.csv"
    bad.write_text("class_index,class_label,latitude_mean\n0,a,1\n")
    with pytest.raises(ValueError, match="needs columns class_index, class_label, latitude_mean, longitude_mean"):
        read_public_partitioning(bad)
    bad.write_text("class_index,class_label,latitude_mean,longitude_mean\n0,a,1,2\n2,b,3,4\n")
    with pytest.raises(ValueError, match="without gaps"):
        read_public_partitioning(bad)
    with pytest.raises(FileNotFoundError, match="neither semp.json nor public"):
        load_semp(tmp_path / "..")


@pytest.mark.parametrize("manifest", ["[1, 2]", '{"kind": "semp"}', '{"partitionings": "a.csv"}', "{not json",
                                      '{"partitionings": ["a.csv"], "hierarchy": 3}'],
                         ids=["list", "no-partitionings", "not-a-list", "bad-json", "bad-hierarchy"])
def test_a_crafted_manifest_is_one_line_naming_it(tmp_path, manifest):
    (tmp_path / "semp.json").write_text(manifest)
    with pytest.raises(ValueError, match="semp.json: not a SemP partitions manifest") as info:
        load_semp(tmp_path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("entry", ["/etc/passwd", "../secret.csv", "sub/../../secret.csv", "link.csv"])
@pytest.mark.parametrize("key", ["partitionings", "hierarchy"])
def test_manifest_entries_outside_the_folder_are_refused_unread(tmp_path, entry, key):
    folder = tmp_path / "semp"
    folder.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("TOP-SECRET-BYTES\n")
    (folder / "link.csv").symlink_to(secret)
    result = _result()
    write_semp(result, folder)
    info = json.loads((folder / "semp.json").read_text())
    info[key] = [entry] if key == "partitionings" else entry
    (folder / "semp.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="not a file inside") as raised:
        load_semp(folder)
    assert "TOP-SECRET" not in str(raised.value)
