"""Reverse geocoding with YOUR OWN Nominatim server (https://nominatim.org), as in the SemP paper.

There is no default server: bulk reverse geocoding of a dataset is not allowed on the public
OpenStreetMap instance (its usage policy allows at most one request per second and no bulk jobs),
so the public host is refused. Requests are spaced by ``min_interval`` seconds and answers are
cached in memory and, with ``cache=PATH``, in a JSON-lines file that later runs reuse.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from ..options import NonNegativeFloat, NonNegativeInt, PositiveFloat, Range
from . import Address, ReverseGeocoder, location_key

#: ``address`` fields that are not places (numbers, codes) and never become locations
SKIPPED_FIELDS = {"house_number", "house_name", "postcode", "country_code"}
#: fields taken as the first-level division (admin1), in order of preference
ADMIN1_FIELDS = ("state", "province")
PUBLIC_HOSTS = {"nominatim.openstreetmap.org"}


def parse_reverse(answer: dict) -> Address:
    """A Nominatim reverse answer (format=json/jsonv2, addressdetails=1) -> address vector fine -> coarse.

    Nominatim lists ``address`` fields from the finest to the coarsest part, which is the order
    kept here. Keys follow :func:`geoxai.geocoders.location_key` with the field name as level
    (``ES/Catalunya/city:Barcelona``); the country is keyed by its ``country_code``.
    """
    if not isinstance(answer, dict) or "error" in answer:
        return []
    fields = answer.get("address") or {}
    cc = str(fields.get("country_code") or "").upper()
    if not cc:
        return []
    items = [(k, str(v)) for k, v in fields.items()
             if k not in SKIPPED_FIELDS and not k.startswith("ISO3166") and v not in (None, "")]
    fields_at = {k: i for i, (k, _) in enumerate(items)}
    admin1_at = next((fields_at[f] for f in ADMIN1_FIELDS if f in fields_at), None)
    admin1 = items[admin1_at][1] if admin1_at is not None else None
    address: Address = []
    for i, (field, name) in enumerate(items):
        if field == "country":
            continue
        if i == admin1_at:
            key = location_key(cc, admin1)
        elif admin1_at is not None and i < admin1_at:
            key = location_key(cc, admin1, field, name)
        else:  # coarser than admin1 (e.g. a "region" above a state), or no admin1 at all
            key = location_key(cc, None, field, name)
        if not address or address[-1][0] != key:
            address.append((key, name))
    address.append((location_key(cc), str(fields.get("country") or cc)))
    return address


class NominatimGeocoder(ReverseGeocoder):
    """Client for a self-hosted Nominatim ``/reverse`` endpoint."""

    name = "nominatim"

    def __init__(self, url: str | None = None, min_interval: NonNegativeFloat = 0.05,
                 zoom: Annotated[int, Range(min=0, max=18)] = 18, cache: str | os.PathLike | None = None,
                 timeout: PositiveFloat = 30.0, retries: NonNegativeInt = 3,
                 endpoint: str = "reverse", user_agent: str = "geoxai (semantic partitioning)") -> None:
        if not url:
            raise ValueError("the nominatim geocoder needs the URL of your own Nominatim server "
                             "(--nominatim-url / url=), e.g. http://localhost:8080")
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"nominatim URL {url!r} is not an http(s) URL")
        if parsed.hostname in PUBLIC_HOSTS:
            raise ValueError(f"{parsed.hostname} forbids bulk reverse geocoding; run your own Nominatim "
                             "server (https://nominatim.org/release-docs/latest/admin/Installation/)")
        self.url = url.rstrip("/") + "/" + endpoint.lstrip("/")
        self.min_interval = float(min_interval)
        self.zoom = int(zoom)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.user_agent = user_agent
        self.cache_path = Path(cache) if cache else None
        self._cache: dict[str, dict] = {}
        self._last = 0.0
        self._lock = threading.Lock()
        if self.cache_path and self.cache_path.exists():
            with open(self.cache_path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        entry = json.loads(line)
                        self._cache[entry["q"]] = entry["answer"]

    def addresses(self, lat: Sequence[float], lon: Sequence[float], progress: bool = False) -> list[Address]:
        from tqdm.auto import tqdm

        return [parse_reverse(self.reverse(float(a), float(o)))
                for a, o in tqdm(list(zip(lat, lon)), desc="reverse geocoding", unit="pt", disable=not progress)]

    def reverse(self, lat: float, lon: float) -> dict:
        """The raw answer for one coordinate (cached; 7 decimals ~ 1 cm)."""
        q = f"{lat:.7f},{lon:.7f},{self.zoom}"
        if q not in self._cache:
            answer = self._request(lat, lon)
            self._cache[q] = answer
            if self.cache_path:
                with open(self.cache_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"q": q, "answer": answer}) + "\n")
        return self._cache[q]

    def _request(self, lat: float, lon: float) -> dict:
        params = urllib.parse.urlencode({"lat": f"{lat:.7f}", "lon": f"{lon:.7f}", "zoom": self.zoom,
                                         "format": "jsonv2", "addressdetails": 1, "accept-language": "en"})
        request = urllib.request.Request(f"{self.url}?{params}", headers={"User-Agent": self.user_agent})
        reason = ""
        for attempt in range(self.retries + 1):
            self._wait_turn()
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, OSError) as exc:
                reason = str(getattr(exc, "reason", exc))
            except json.JSONDecodeError:
                reason = "answer is not JSON"
                break
            time.sleep(min(0.5 * 2 ** attempt, 8.0))
        raise ConnectionError(f"nominatim server {self.url} failed for ({lat}, {lon}): {reason}")

    def _wait_turn(self) -> None:
        with self._lock:
            delay = self._last + self.min_interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()
