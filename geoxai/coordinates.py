"""Coordinates from free text: what a vision-language model answers when asked where a photo was taken.

:func:`parse_coordinates` reads, in this order of trust:

1. a JSON object (also inside a ```json code fence) with ``lat``/``latitude`` and
   ``lon``/``lng``/``long``/``longitude`` keys (numbers or numeric strings, one level of nesting);
2. hemisphere notation, decimal or degrees-minutes-seconds: ``48.8566° N, 2.3522° E``,
   ``48°51'24"N 2°21'3"E``, ``33.87 S 151.21 E``;
3. labelled values: ``latitude: 48.85, longitude: 2.35``, ``lat=48.85 lon=2.35``;
4. a signed decimal pair: ``(48.8566, 2.3522)``, ``-33.87, 151.21`` (at least one decimal point).

Within a form the last match wins (models often reason first and answer last). Out-of-range
values are not coordinates. ``None`` when nothing is found.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["parse_coordinates"]

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_NUMBER = r"\d{1,3}(?:[.,]\d+)?"
_COMPONENT = re.compile(
    rf"(?P<deg>{_NUMBER})\s*(?:°|º|˚|deg(?:rees)?\b)?\s*"
    rf"(?:(?P<min>\d{{1,2}}(?:\.\d+)?)\s*(?:'|′|’|min\b)\s*)?"
    rf"(?:(?P<sec>\d{{1,2}}(?:\.\d+)?)\s*(?:\"|″|”|''|sec\b)\s*)?"
    r"(?P<hemi>north|south|east|west|[NSEW])\b", re.I)
_LABELLED_LAT = re.compile(r"\blat(?:itude)?\b\"?\s*[:=]?\s*(-?\d{1,2}(?:\.\d+)?)(?![\d.])", re.I)
_LABELLED_LON = re.compile(r"\b(?:lon|lng|long|longitude)\b\"?\s*[:=]?\s*(-?\d{1,3}(?:\.\d+)?)(?![\d.])", re.I)
_PAIR = re.compile(r"(?<![\w.])(-?\d{1,2}(?:\.\d+)?)\s*°?\s*[,;/]?\s+(-?\d{1,3}(?:\.\d+)?)°?(?![\w.])"
                   r"|(?<![\w.])(-?\d{1,2}(?:\.\d+)?)°?\s*[,;/]\s*(-?\d{1,3}(?:\.\d+)?)°?(?![\w.])")
_LAT_KEYS = ("lat", "latitude")
_LON_KEYS = ("lon", "lng", "long", "longitude")


def parse_coordinates(text: str | None) -> tuple[float, float] | None:
    """(lat, lon) in degrees from ``text``, or None."""
    if not text:
        return None
    for parse in (_from_json, _from_hemispheres, _from_labels, _from_pair):
        found = parse(text)
        if found is not None:
            return found
    return None


def _valid(lat: float, lon: float) -> tuple[float, float] | None:
    if math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
        return float(lat), float(lon)
    return None


def _from_json(text: str) -> tuple[float, float] | None:
    candidates = [*_FENCE.findall(text), text]
    found = None
    for chunk in candidates:
        for start in [m.start() for m in re.finditer(r"\{", chunk)]:
            try:
                value, _ = json.JSONDecoder().raw_decode(chunk[start:])
            except ValueError:
                continue
            hit = _from_mapping(value)
            if hit is not None:
                found = hit
        if found is not None:
            return found
    return None


def _from_mapping(value: Any, depth: int = 0) -> tuple[float, float] | None:
    if not isinstance(value, dict) or depth > 1:
        return None
    keys = {str(k).lower(): v for k, v in value.items()}
    lat = next((keys[k] for k in _LAT_KEYS if k in keys), None)
    lon = next((keys[k] for k in _LON_KEYS if k in keys), None)
    if lat is not None and lon is not None:
        try:
            return _valid(float(lat), float(lon))
        except (TypeError, ValueError):
            return None
    for inner in value.values():
        hit = _from_mapping(inner, depth + 1)
        if hit is not None:
            return hit
    return None


def _degrees(match: re.Match) -> tuple[float, str]:
    deg = float(match["deg"].replace(",", "."))
    deg += float(match["min"] or 0) / 60 + float(match["sec"] or 0) / 3600
    hemi = match["hemi"][0].upper()
    return (-deg if hemi in "SW" else deg), hemi


def _from_hemispheres(text: str) -> tuple[float, float] | None:
    parts = [_degrees(m) for m in _COMPONENT.finditer(text)]
    found = None
    for (first, h1), (second, h2) in zip(parts, parts[1:]):
        if h1 in "NS" and h2 in "EW":
            found = _valid(first, second) or found
        elif h1 in "EW" and h2 in "NS":
            found = _valid(second, first) or found
    return found


def _from_labels(text: str) -> tuple[float, float] | None:
    lats, lons = _LABELLED_LAT.findall(text), _LABELLED_LON.findall(text)
    if lats and lons:
        return _valid(float(lats[-1]), float(lons[-1]))
    return None


def _from_pair(text: str) -> tuple[float, float] | None:
    found = None
    for match in _PAIR.finditer(text):
        lat, lon = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
        if "." in lat or "." in lon:
            found = _valid(float(lat), float(lon)) or found
    return found
