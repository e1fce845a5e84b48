"""The Nominatim client against a canned Nominatim on 127.0.0.1."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from geoxai.geocoders import load_geocoder
from geoxai.geocoders.nominatim import parse_reverse

# shaped like Nominatim 4.x /reverse?format=jsonv2&addressdetails=1 (fields fine -> coarse)
SAGRADA = {
    "place_id": 1, "osm_type": "way", "osm_id": 2, "name": "Sagrada Família",
    "address": {"tourism": "Sagrada Família", "house_number": "401", "road": "Carrer de Mallorca",
                "neighbourhood": "la Sagrada Família", "city_district": "Eixample", "city": "Barcelona",
                "county": "Barcelonès", "province": "Barcelona", "ISO3166-2-lvl6": "ES-B",
                "state": "Catalonia", "ISO3166-2-lvl4": "ES-CT", "postcode": "08013",
                "country": "Spain", "country_code": "es"},
}
PARIS = {"address": {"suburb": "Paris 4e", "city": "Paris", "state": "Ile-de-France",
                     "region": "Metropolitan France", "country": "France", "country_code": "fr"}}


class CannedNominatim(BaseHTTPRequestHandler):
    requests = []

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        type(self).requests.append((url.path, q))
        lat = float(q["lat"][0])
        if lat == 99.0:
            self.send_response(500)
            self.end_headers()
            return
        body = PARIS if lat > 45 else SAGRADA if lat > 40 else {"error": "Unable to geocode"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CannedNominatim)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    CannedNominatim.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_parse_reverse_orders_fine_to_coarse_and_keys_by_country_and_state():
    a = parse_reverse(SAGRADA)
    assert [n for _, n in a] == ["Sagrada Família", "Carrer de Mallorca", "la Sagrada Família", "Eixample",
                                 "Barcelona", "Barcelonès", "Barcelona", "Catalonia", "Spain"]
    keys = [k for k, _ in a]
    assert keys[-1] == "ES" and keys[-2] == "ES/Catalonia"
    assert keys[4] == "ES/Catalonia/city:Barcelona" and keys[6] == "ES/Catalonia/province:Barcelona"
    # a level above the state is keyed by the country only
    assert parse_reverse(PARIS)[-2:] == [("FR/region:Metropolitan France", "Metropolitan France"), ("FR", "France")]
    assert parse_reverse({"error": "Unable to geocode"}) == []


def test_client_queries_the_server_and_caches(server, tmp_path):
    cache = tmp_path / "cache.jsonl"
    g = load_geocoder("nominatim", url=server, min_interval=0.0, cache=cache)
    out = g.addresses([41.4036, 48.85, 0.0, 41.4036], [2.1744, 2.35, 0.0, 2.1744])
    assert out[0] == parse_reverse(SAGRADA) and out[1] == parse_reverse(PARIS) and out[2] == []
    assert out[3] == out[0]
    assert len(CannedNominatim.requests) == 3  # the repeated point came from the cache
    path, q = CannedNominatim.requests[0]
    assert path == "/reverse" and q["format"] == ["jsonv2"] and q["addressdetails"] == ["1"] and q["zoom"] == ["18"]
    # a new client reuses the on-disk cache without asking the server
    again = load_geocoder("nominatim", url=server, cache=cache).addresses([48.85], [2.35])
    assert again == [parse_reverse(PARIS)] and len(CannedNominatim.requests) == 3


def test_rate_limit_spaces_requests(server):
    import time

    g = load_geocoder("nominatim", url=server, min_interval=0.1)
    start = time.monotonic()
    g.addresses([41.1, 41.2, 41.3], [2.0, 2.0, 2.0])
    assert time.monotonic() - start >= 0.2  # three requests need at least two gaps


def test_server_errors_and_bad_urls_are_one_line_errors(server):
    g = load_geocoder("nominatim", url=server, min_interval=0.0, retries=1)
    with pytest.raises(ConnectionError, match="HTTP 500"):
        g.addresses([99.0], [0.0])
    with pytest.raises(ValueError, match="needs the URL of your own Nominatim server"):
        load_geocoder("nominatim")
    with pytest.raises(ValueError, match="forbids bulk"):
        load_geocoder("nominatim", url="https://nominatim.openstreetmap.org")
