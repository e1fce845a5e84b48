"""The offline GeoNames geocoder on a few real coordinates."""
import pytest

from geoxai import plugins
from geoxai.geocoders import ReverseGeocoder, load_geocoder, register_geocoder


@pytest.fixture(scope="module")
def offline():
    return load_geocoder("offline")


def test_real_places_give_fine_to_coarse_vectors(offline, capsys):
    barcelona, paris, new_york = offline.addresses([41.3917, 48.8566, 40.7128], [2.1649, 2.3522, -74.0060])
    assert capsys.readouterr().out == ""  # the package's loading message is silenced
    assert barcelona[-1] == ("ES", "Spain") and barcelona[-2] == ("ES/Catalonia", "Catalonia")
    assert barcelona[0][0].startswith("ES/Catalonia/place:")
    assert [n for _, n in barcelona][1] == "Provincia de Barcelona"
    assert paris[-1] == ("FR", "France") and paris[0] == ("FR/Ile-de-France/place:Paris", "Paris")
    assert new_york == [("US/New York/place:New York City", "New York City"),
                        ("US/New York", "New York"), ("US", "United States")]
    for address in (barcelona, paris, new_york):
        keys = [k for k, _ in address]
        assert len(set(keys)) == len(keys)
        # fine -> coarse: every key but the country extends a coarser key's country prefix
        assert all(k.startswith(keys[-1]) for k in keys)


def test_equal_names_in_different_countries_get_different_keys(offline):
    valencia_es, valencia_ve = offline.addresses([39.4699, 10.1620], [-0.3763, -68.0077])
    assert valencia_es[-1][0] == "ES" and valencia_ve[-1][0] == "VE"
    assert not {k for k, _ in valencia_es} & {k for k, _ in valencia_ve}


def test_registry_accepts_third_party_geocoders():
    class Fixed(ReverseGeocoder):
        name = "fixed"

        def addresses(self, lat, lon, progress=False):
            return [[("XX", "Nowhere")] for _ in lat]

    with plugins.isolated():
        register_geocoder("fixed-test", Fixed)
        assert load_geocoder("fixed-test").addresses([1.0], [2.0]) == [[("XX", "Nowhere")]]
        assert plugins.registry().get("geocoder", "fixed-test").distribution == "(run time)"
    with pytest.raises(ValueError, match="unknown geocoder 'fixed-test'"):
        load_geocoder("fixed-test")  # gone with the isolated registry
    with pytest.raises(ValueError, match="unknown geocoder 'nope'"):
        load_geocoder("nope")
