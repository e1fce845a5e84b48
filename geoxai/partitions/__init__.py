"""Partitionings of the earth into cells: building them from photo coordinates and reading the
official partition files (s2: :mod:`.s2`, SemP semantic places: :mod:`.semp`, :mod:`.semp_files`)."""
from .s2 import (
    build_s2_partitionings,
    link_s2_hierarchy,
    read_s2_partitioning,
    read_s2_partitionings,
    write_s2_partitionings,
)

__all__ = [
    "build_s2_partitionings",
    "link_s2_hierarchy",
    "read_s2_partitioning",
    "read_s2_partitionings",
    "write_s2_partitionings",
]
