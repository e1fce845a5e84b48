"""Visualisation helpers: heat-map overlays of explanation maps."""
from .overlay import colorize, overlay, save_overlay

__all__ = ["colorize", "overlay", "save_overlay"]
