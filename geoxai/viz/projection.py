"""The Equal Earth map projection (Šavrič, Patterson and Jenny, 2018), in NumPy.

An equal-area pseudocylindrical projection that looks like Robinson's: countries keep their true
relative sizes (a choropleth of probability per country is not skewed towards the poles), the
meridians are gently curved and the poles are lines. Forward only, on the unit sphere, in the
published polynomial form; x spans about ±2.7 and y about ±1.3.
"""
from __future__ import annotations

import numpy as np

__all__ = ["equal_earth", "world_outline", "graticule", "X_MAX", "Y_MAX"]

_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = np.sqrt(3.0) / 2.0


def equal_earth(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Projected (x, y) of longitudes and latitudes in degrees (arrays broadcast)."""
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    theta = np.arcsin(_M * np.sin(np.radians(np.clip(np.asarray(lat, dtype=np.float64), -90.0, 90.0))))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = 2.0 * np.sqrt(3.0) * lam * np.cos(theta) / (3.0 * (9.0 * _A4 * t6 * t2 + 7.0 * _A3 * t6 + 3.0 * _A2 * t2 + _A1))
    y = theta * (_A4 * t6 * t2 + _A3 * t6 + _A2 * t2 + _A1)
    return x, y


X_MAX = float(equal_earth(180.0, 0.0)[0])
Y_MAX = float(equal_earth(0.0, 90.0)[1])


def world_outline(steps: int = 181) -> np.ndarray:
    """[N, 2] the projected edge of the world (the ±180° meridians), a closed ring."""
    lat = np.linspace(-90.0, 90.0, steps)
    east = np.stack(equal_earth(np.full(steps, 180.0), lat), axis=1)
    west = np.stack(equal_earth(np.full(steps, -180.0), lat[::-1]), axis=1)
    return np.concatenate([east, west, east[:1]])


def graticule(step: float = 30.0, samples: int = 121) -> list[np.ndarray]:
    """Projected meridians and parallels every ``step`` degrees, as [N, 2] polylines."""
    lines = []
    for lon in np.arange(-180.0, 180.0 + 1e-9, step):
        lat = np.linspace(-90.0, 90.0, samples)
        lines.append(np.stack(equal_earth(np.full(samples, lon), lat), axis=1))
    for lat in np.arange(-90.0 + step, 90.0 - 1e-9, step):
        lon = np.linspace(-180.0, 180.0, samples)
        lines.append(np.stack(equal_earth(lon, np.full(samples, lat)), axis=1))
    return lines
