"""The explorer's world map as data: every Natural Earth country as an SVG path in the Equal Earth
projection (simplified for the browser), computed once per process."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

SCALE = 100.0            # SVG units per projected unit: the world is about 541 x 263
SIMPLIFY_DEGREES = 0.08  # about 9 km: invisible on a screen-sized world map, 6x fewer points


@lru_cache(maxsize=1)
def country_svg() -> dict:
    import shapely

    from ..countries import _shapes, countries
    from ..viz.projection import X_MAX, Y_MAX, equal_earth, world_outline

    geometries, _ = _shapes()
    simple = shapely.simplify(geometries, SIMPLIFY_DEGREES, preserve_topology=True)
    rows = []
    for country, geometry in zip(countries(), simple):
        parts = []
        for polygon in getattr(geometry, "geoms", [geometry]):
            for ring in [polygon.exterior, *polygon.interiors]:
                xy = np.asarray(ring.coords)
                if len(xy) < 4:
                    continue
                x, y = equal_earth(xy[:, 0], xy[:, 1])
                points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x * SCALE, -y * SCALE))
                parts.append(f"M{points}Z")
        rows.append({**country.to_dict(), "d": "".join(parts)})
    edge = world_outline(91)
    outline = "M" + " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(edge[:, 0] * SCALE, -edge[:, 1] * SCALE)) + "Z"
    w, h = X_MAX * SCALE, Y_MAX * SCALE
    return {"viewBox": f"{-w - 2:.0f} {-h - 2:.0f} {2 * w + 4:.0f} {2 * h + 4:.0f}", "outline": outline,
            "countries": rows, "credit": "Made with Natural Earth"}
