"""Plots: the per-image explanation figure (figure.py) and the world-map view of a prediction (worldmap.py)."""
