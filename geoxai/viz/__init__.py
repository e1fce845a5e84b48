"""Visualisation: heat-map overlays (overlay.py), the per-image explanation figure (figure.py) and
the world-map view of a prediction (worldmap.py; the last two are imported on demand)."""
from .overlay import colorize, overlay, save_overlay

__all__ = ["colorize", "overlay", "save_overlay"]
