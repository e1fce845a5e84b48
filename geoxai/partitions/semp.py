"""SemP: the semantic partitioning of Theiner et al. (WACV 2022), Section 3.1.

From a dataset's coordinates to nested partitionings whose cells are real places:

1. reverse geocode every coordinate to an address vector ordered fine -> coarse
   (:mod:`geoxai.geocoders`);
2. drop sporadic locations: a location's count is the number of samples whose address vector
   contains it, and locations counted fewer than ``tau_d`` times are removed from every vector
   (samples left with an empty vector are dropped) -- as the public reverse-geocoding script does
   before any hierarchy is built;
3. build the directed multigraph of adjacent locations of the filtered vectors and keep for each
   location only its most frequent parent (:func:`build_hierarchy`);
4. replace each address by the path from its finest location to its root in that hierarchy;
5. per ``tau_min``: a location is *eligible* when at least ``tau_min`` samples have it on their
   path (it and everything below it), and each sample goes to the finest eligible location on its
   path; the locations that receive samples are that partitioning's classes. Eligibility is
   monotone along a path, so the partitionings of several ``tau_min`` nest: a class's parent in
   the next coarser partitioning is the first class on its own path.

Every class records its assigned training samples' count and mean position (the class -> GPS
mapping) and a human-readable label built from its path ("Eixample, Barcelona, Catalonia, Spain").
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from ..types import Partitioning

Address = Sequence[tuple[str, str]]


@dataclass
class SemPHierarchy:
    """The location hierarchy G after keeping one parent per location (roots: parent None)."""

    parent: dict[str, str | None]
    names: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)  # samples containing the location (after tau_D)

    def __contains__(self, key: str) -> bool:
        return key in self.parent

    def path(self, key: str) -> list[str]:
        """``key`` and its ancestors up to the root, fine -> coarse."""
        out = [key]
        while (up := self.parent[out[-1]]) is not None:
            out.append(up)
        return out

    def label(self, key: str) -> str:
        return ", ".join(self.names.get(k, k) for k in self.path(key))

    def roots(self) -> list[str]:
        return sorted(k for k, p in self.parent.items() if p is None)


@dataclass
class SemPResult:
    """Partitionings ordered coarse -> fine (largest ``tau_min`` first) and the hierarchy behind them."""

    partitionings: list[Partitioning]
    hierarchy: SemPHierarchy
    tau_d: int
    tau_min: list[int]  # per partitioning, coarse -> fine
    targets: np.ndarray  # [N, P] class index of every input sample per partitioning, -1 if unused


def keys_of(address: Address) -> list[str]:
    """The location keys of an address, with repeated neighbours collapsed (A, A, B -> A, B)."""
    out: list[str] = []
    for key, _ in address:
        if not out or out[-1] != key:
            out.append(key)
    return out


def location_counts(vectors: Iterable[Sequence[str]]) -> Counter:
    """How many samples contain each location (a location repeated within one vector counts once)."""
    counts: Counter = Counter()
    for vector in vectors:
        counts.update(set(vector))
    return counts


def drop_rare_locations(vectors: Sequence[Sequence[str]], tau_d: int) -> list[list[str]]:
    """Remove locations contained in fewer than ``tau_d`` samples; a vector may become empty."""
    counts = location_counts(vectors)
    kept = []
    for vector in vectors:
        filtered: list[str] = []
        for key in vector:
            if counts[key] >= tau_d and (not filtered or filtered[-1] != key):
                filtered.append(key)
        kept.append(filtered)
    return kept


def build_hierarchy(vectors: Sequence[Sequence[str]], names: dict[str, str] | None = None) -> SemPHierarchy:
    """Keep, for every location, only its most frequent incoming (parent) edge.

    Each vector contributes the edges between adjacent locations (l_i -> l_{i+1}), once per
    sample. Ties between equally frequent parents go to the parent contained in more samples, then
    to the smallest key, so the result never depends on input order. Should the kept edges form a
    cycle (only possible with contradictory addresses), its least frequent edge is cut and that
    location becomes a root.
    """
    edges: Counter = Counter()
    for vector in vectors:
        edges.update({(c, p) for c, p in zip(vector[:-1], vector[1:]) if c != p})
    totals = location_counts(vectors)
    candidates: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (child, par), n in edges.items():
        candidates[child].append((par, n))
    parent: dict[str, str | None] = {key: None for key in totals}
    strength: dict[str, int] = {}
    for child, options in candidates.items():
        best, n = min(options, key=lambda o: (-o[1], -totals[o[0]], o[0]))
        parent[child], strength[child] = best, n
    _cut_cycles(parent, strength)
    return SemPHierarchy(parent=parent, names=dict(names or {}), counts=dict(totals))


def _cut_cycles(parent: dict[str, str | None], strength: dict[str, int]) -> None:
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = known to reach a root
    for start in sorted(parent):
        walk, node = [], start
        while node is not None and state.get(node) is None:
            state[node] = 1
            walk.append(node)
            node = parent[node]
        if node is not None and state[node] == 1:  # closed a cycle: node ... walk[-1] -> node
            cycle = walk[walk.index(node):]
            weakest = min(cycle, key=lambda k: (strength.get(k, 0), k))
            parent[weakest] = None
        for k in walk:
            state[k] = 2


def replace_by_paths(vectors: Sequence[Sequence[str]], hierarchy: SemPHierarchy) -> list[list[str]]:
    """D^{l*}: each vector becomes the hierarchy path of its finest location (known to the hierarchy)."""
    out = []
    for vector in vectors:
        finest = next((k for k in vector if k in hierarchy), None)
        out.append(hierarchy.path(finest) if finest is not None else [])
    return out


def finest_eligible(paths: Sequence[Sequence[str]], tau_min: int, on_path: Counter | None = None) -> list[str | None]:
    """Each sample's finest location that at least ``tau_min`` samples have on their path
    (``on_path``: ``location_counts(paths)``, when the caller already has it)."""
    on_path = location_counts(paths) if on_path is None else on_path
    return [next((k for k in path if on_path[k] >= tau_min), None) for path in paths]


def mean_position(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    """Mean position on the sphere (normalised mean of unit vectors): the arithmetic mean for
    small cells, but correct across the antimeridian (Fiji, Chukotka)."""
    la, lo = np.radians(lat), np.radians(lon)
    v = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]).mean(axis=1)
    return float(np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1])))), float(np.degrees(np.arctan2(v[1], v[0])))


def build_semp_partitionings(
    lat: Sequence[float],
    lon: Sequence[float],
    addresses: Sequence[Address],
    tau_d: int = 50,
    tau_min: Sequence[int] = (100, 125, 250),
) -> SemPResult:
    """Build nested SemP partitionings (ordered coarse -> fine) from geocoded coordinates.

    Samples that reach no eligible location at the coarsest ``tau_min`` (their whole country has
    fewer samples) get no class in any partitioning, so that every class of a finer partitioning
    has its parent in the next coarser one and every used sample has a target for every head.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if not (len(lat) == len(lon) == len(addresses)):
        raise ValueError(f"{len(lat)} latitudes, {len(lon)} longitudes but {len(addresses)} addresses")
    taus = sorted({int(t) for t in tau_min}, reverse=True)
    if not taus or taus[-1] < 1 or int(tau_d) < 1:
        raise ValueError(f"tau_min {list(tau_min)} and tau_d {tau_d} must be positive integers")
    names = _names(addresses)
    vectors = drop_rare_locations([keys_of(a) for a in addresses], int(tau_d))
    hierarchy = build_hierarchy(vectors, names)
    paths = replace_by_paths(vectors, hierarchy)
    on_path = location_counts(paths)  # the same for every tau_min
    assigned_per_level = [finest_eligible(paths, tau, on_path) for tau in taus]
    used = np.array([k is not None for k in assigned_per_level[0]], dtype=bool)
    if not used.any():
        raise ValueError(f"no location has {taus[0]} samples on its path (tau_min) after filtering "
                         f"with tau_d={tau_d}: {len(lat)} coordinates are too few")
    targets = np.full((len(lat), len(taus)), -1, dtype=np.int64)
    parts: list[Partitioning] = []
    for level, (tau, assigned) in enumerate(zip(taus, assigned_per_level)):
        members: dict[str, list[int]] = defaultdict(list)
        for i in np.flatnonzero(used):
            # a used sample has a location at the coarsest tau_min, hence at every smaller one
            members[cast(str, assigned[i])].append(int(i))
        keys = sorted(members)
        positions = [mean_position(lat[members[k]], lon[members[k]]) for k in keys]
        parent = None
        if parts:
            coarser = parts[-1]
            parent = [next(coarser.index_of(a) for a in hierarchy.path(k) if a in coarser._index) for k in keys]
        part = Partitioning(
            name=f"semp_{tau}", keys=keys, lat=np.array([p[0] for p in positions]),
            lon=np.array([p[1] for p in positions]), labels=[hierarchy.label(k) for k in keys],
            parent=np.array(parent if parent is not None else [-1] * len(keys)),
            counts=np.array([len(members[k]) for k in keys]),
        )
        for cell, key in enumerate(keys):
            targets[members[key], level] = cell
        parts.append(part)
    return SemPResult(partitionings=parts, hierarchy=hierarchy, tau_d=int(tau_d), tau_min=taus, targets=targets)


def assign(addresses: Sequence[Address], hierarchy: SemPHierarchy,
           partitionings: Sequence[Partitioning]) -> np.ndarray:
    """Classes of a new dataset: [N, P] index of each address's finest available class, -1 if none.

    As in the paper, the new addresses (from the same geocoder) are first reduced to the locations
    the training hierarchy knows; the finest of them is replaced by its hierarchy path, and the
    first location on that path that is a class of a partitioning is the sample's class there.
    """
    paths = replace_by_paths([keys_of(a) for a in addresses], hierarchy)
    out = np.full((len(paths), len(partitionings)), -1, dtype=np.int64)
    for j, part in enumerate(partitionings):
        index = {k: i for i, k in enumerate(part.keys)}
        for i, path in enumerate(paths):
            out[i, j] = next((index[k] for k in path if k in index), -1)
    return out


def _names(addresses: Sequence[Address]) -> dict[str, str]:
    """Each key's most frequent name (ties: alphabetically first)."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for address in addresses:
        for key, name in address:
            seen[key][name or key] += 1
    return {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in seen.items()}
