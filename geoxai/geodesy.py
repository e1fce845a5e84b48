"""Great-circle distance and geolocation accuracy (SemP paper, equation 4)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

EARTH_RADIUS_KM = 6371.0
ACCURACY_RADII_KM = (1, 25, 200, 750, 2500)


def validate_coordinates(lat, lon, where: str = "coordinates") -> None:
    """Raise ValueError naming ``where`` if any latitude/longitude is out of range or not finite."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{where}: {int(bad.sum())} coordinate(s) out of range, first at row {i}: "
            f"lat={lat.ravel()[i]}, lon={lon.ravel()[i]} (need -90<=lat<=90, -180<=lon<=180)"
        )


def great_circle_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM):
    """Great-circle distance in km between points given in degrees, broadcast elementwise.

    Works on NumPy arrays, Python scalars and torch tensors (returning the same kind). Uses the
    atan2 (Vincenty, sphere) form, which stays accurate for antipodal and coincident points where
    the plain haversine/arccos forms lose digits.
    """
    if any(isinstance(v, torch.Tensor) for v in (lat1, lon1, lat2, lon2)):
        ref = next(v for v in (lat1, lon1, lat2, lon2) if isinstance(v, torch.Tensor))
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        t = [torch.as_tensor(v, dtype=dtype, device=ref.device) for v in (lat1, lon1, lat2, lon2)]
        return _central_angle(torch, *(torch.deg2rad(v) for v in t)) * radius_km
    arrays = [np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2)]
    out = _central_angle(np, *arrays) * radius_km
    return float(out) if np.ndim(out) == 0 else out


def _central_angle(xp, phi1, lam1, phi2, lam2):
    dlam = lam2 - lam1
    sin_p1, cos_p1 = xp.sin(phi1), xp.cos(phi1)
    sin_p2, cos_p2 = xp.sin(phi2), xp.cos(phi2)
    y = xp.sqrt((cos_p2 * xp.sin(dlam)) ** 2 + (cos_p1 * sin_p2 - sin_p1 * cos_p2 * xp.cos(dlam)) ** 2)
    x = sin_p1 * sin_p2 + cos_p1 * cos_p2 * xp.cos(dlam)
    return xp.arctan2(y, x) if xp is np else torch.atan2(y, x)


def pairwise_great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Distances between every point of set 1 [N] and every point of set 2 [M] -> [N, M]."""
    lat1, lon1 = np.asarray(lat1, np.float64)[:, None], np.asarray(lon1, np.float64)[:, None]
    lat2, lon2 = np.asarray(lat2, np.float64)[None, :], np.asarray(lon2, np.float64)[None, :]
    return great_circle_km(lat1, lon1, lat2, lon2)


def accuracy_at(distances_km, radii_km: Sequence[float] = ACCURACY_RADII_KM) -> dict[float, float]:
    """Fraction of predictions whose great-circle error is below each radius (equation 4, a_r).

    The paper uses a strict ``d < r``. An empty input gives NaN accuracies rather than 0, so an
    empty evaluation is never mistaken for a bad model.
    """
    d = np.asarray(distances_km, dtype=np.float64).ravel()
    if d.size == 0:
        return {r: float("nan") for r in radii_km}
    return {r: float(np.mean(d < r)) for r in radii_km}
