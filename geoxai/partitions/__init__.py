"""Partitionings of the earth into classes: s2 cells and SemP semantic places."""
