"""Build geoxai_streetclip/data/countries.csv from Natural Earth's 1:50m admin-0 countries.

    python scripts/build_countries.py ../../../shared/data/naturalearth/ne_50m_admin_0_countries.geojson.gz

Keeps, per unit: ADM0_A3 (always set, unlike ISO_A3 which is -99 for France and Norway), a name,
the ISO codes (Natural Earth's -99 replaced from pycountry where ADM0_A3 is an ISO code, else empty), continent,
subregion and the area-weighted centroid of the largest polygon (planar in lon/lat, enough for a point inside a
country's main part).
"""
from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

import pycountry

#: Natural Earth's 2017 names that have changed since (matched by ADM0_A3)
CURRENT_NAMES = {"SWZ": "Eswatini", "MKD": "North Macedonia"}


def ring_area_centroid(ring):
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    area /= 2
    if abs(area) < 1e-12:  # degenerate (a point-like island): the mean of its vertices
        return 0.0, sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)
    return abs(area), cx / (6 * area), cy / (6 * area)


def centroid(geometry) -> tuple[float, float]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    best = max((ring_area_centroid([tuple(p[:2]) for p in poly[0]]) for poly in polygons), key=lambda t: t[0])
    return best[2], best[1]  # lat, lon


def main(source: str, dest: str) -> None:
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    rows = []
    for feature in features:
        props = feature["properties"]
        lat, lon = centroid(feature["geometry"])
        code = props["ADM0_A3"]
        iso_a2, iso_a3 = props["ISO_A2"], props["ISO_A3"]
        if "-99" in (iso_a2, iso_a3):  # Natural Earth's quirk (France, Norway): ADM0_A3 may be the ISO code
            known = pycountry.countries.get(alpha_3=code)
            iso_a2, iso_a3 = (known.alpha_2, known.alpha_3) if known else (iso_a2, iso_a3)
        rows.append({
            "key": code, "name": CURRENT_NAMES.get(code, props["NAME"]),
            "iso_a2": "" if iso_a2 == "-99" else iso_a2, "iso_a3": "" if iso_a3 == "-99" else iso_a3,
            "continent": props["CONTINENT"], "subregion": props["SUBREGION"],
            "lat": f"{lat:.4f}", "lon": f"{lon:.4f}",
        })
    rows.sort(key=lambda r: r["key"])
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} countries to {dest}")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent.parent
    main(sys.argv[1] if len(sys.argv) > 1 else str(here.parents[2] / "shared/data/naturalearth/"
                                                     "ne_50m_admin_0_countries.geojson.gz"),
         sys.argv[2] if len(sys.argv) > 2 else str(here / "geoxai_streetclip/data/countries.csv"))
