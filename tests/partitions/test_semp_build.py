"""SemP construction rules (paper Sec. 3.1) on hand-made addresses with hand-computed results."""
import numpy as np
import pytest

from geoxai.partitions.semp import (
    assign,
    build_hierarchy,
    build_semp_partitionings,
    drop_rare_locations,
    location_counts,
    mean_position,
    replace_by_paths,
)


def test_most_frequent_parent_is_kept():
    vectors = [["A", "B", "C"]] * 3 + [["A", "D", "C"]]
    h = build_hierarchy(vectors)
    assert h.parent == {"A": "B", "B": "C", "D": "C", "C": None}
    assert h.roots() == ["C"]


def test_parent_tie_goes_to_more_frequent_location_then_smallest_key():
    # A -> B twice and A -> D twice; D is contained in 5 samples, B in 2: D wins.
    vectors = [["A", "B"]] * 2 + [["A", "D"]] * 2 + [["D"]] * 3
    assert build_hierarchy(vectors).parent["A"] == "D"
    # equal edge counts and equal totals: the smaller key wins, whatever the input order
    vectors = [["A", "Z"], ["A", "Y"]]
    assert build_hierarchy(vectors).parent["A"] == "Y"
    assert build_hierarchy(vectors[::-1]).parent["A"] == "Y"


def test_an_edge_counts_once_per_sample_and_cycles_are_cut_at_the_weakest_edge():
    assert location_counts([["A", "B", "A"]]) == {"A": 1, "B": 1}
    vectors = [["A", "B"]] * 3 + [["B", "A"]] * 2  # A->B (3) and B->A (2) form a cycle
    h = build_hierarchy(vectors)
    assert h.parent == {"A": "B", "B": None}
    assert h.path("A") == ["A", "B"]


def test_addresses_are_replaced_by_the_hierarchy_path_of_their_finest_location():
    vectors = [["A", "B", "C"]] * 3 + [["A", "D", "C"], ["D", "C"]]
    h = build_hierarchy(vectors)
    # the shortcut A -> D is overruled: A's path goes through its kept parent B
    assert replace_by_paths([["A", "D", "C"], ["D", "C"], ["X", "B", "C"], ["X"]], h) == [
        ["A", "B", "C"], ["D", "C"], ["B", "C"], []]


def test_tau_d_counts_samples_containing_a_location():
    vectors = [["x", "b", "c"], ["y", "b", "c"], ["y", "c"], ["z"]]
    # counts: x 1, y 2, b 2, c 3, z 1 -> with tau_d=2, x and z go; the last sample becomes empty
    assert drop_rare_locations(vectors, 2) == [["b", "c"], ["y", "b", "c"], ["y", "c"], []]
    assert drop_rare_locations(vectors, 1) == [list(v) for v in vectors]


# --- a small world: Spain (Catalonia with Barcelona/Eixample/Girona, Madrid) and France -----
EIX = ("ES/CT/sub:Eixample", "Eixample")
BCN = ("ES/CT/city:Barcelona", "Barcelona")
GIR = ("ES/CT/city:Girona", "Girona")
XYZ = ("ES/CT/city:Rare", "Rare")
CT = ("ES/CT", "Catalonia")
MAD = ("ES/MD/city:Madrid", "Madrid")
MD = ("ES/MD", "Community of Madrid")
ES = ("ES", "Spain")
PAR, IDF, FR = ("FR/IDF/city:Paris", "Paris"), ("FR/IDF", "Ile-de-France"), ("FR", "France")

WORLD = (
    [([EIX, BCN, CT, ES], 41.39 + 0.001 * i, 2.16) for i in range(5)]
    + [([EIX, CT, ES], 41.395, 2.16)]          # a shortcut: Eixample directly under Catalonia
    + [([BCN, CT, ES], 41.38, 2.17)] * 3
    + [([GIR, CT, ES], 41.98, 2.82)] * 2
    + [([XYZ, CT, ES], 42.0, 2.82)]            # XYZ occurs once: below tau_d
    + [([MAD, MD, ES], 40.4, -3.7)] * 4
    + [([PAR, IDF, FR], 48.85, 2.35)] * 2      # France: too few samples for the coarsest tau_min
)


@pytest.fixture
def world():
    addresses = [a for a, _, _ in WORLD]
    lat = [la for _, la, _ in WORLD]
    lon = [lo for _, _, lo in WORLD]
    return addresses, np.array(lat), np.array(lon)


def test_nested_partitionings_on_the_small_world(world):
    addresses, lat, lon = world
    r = build_semp_partitionings(lat, lon, addresses, tau_d=2, tau_min=(3, 10, 5))
    assert r.tau_min == [10, 5, 3] and [p.name for p in r.partitionings] == ["semp_10", "semp_5", "semp_3"]
    coarse, middle, fine = r.partitionings
    # path counts: EIX 6, BCN 9, CT 12, ES 16, GIR 2, MAD 4, MD 4, FR 2
    assert dict(zip(coarse.keys, coarse.counts)) == {CT[0]: 12, ES[0]: 4}
    assert dict(zip(middle.keys, middle.counts)) == {BCN[0]: 3, CT[0]: 3, EIX[0]: 6, ES[0]: 4}
    assert dict(zip(fine.keys, fine.counts)) == {BCN[0]: 3, CT[0]: 3, EIX[0]: 6, MAD[0]: 4}
    # every finer cell has its parent in the next coarser partitioning
    up = {k: coarse.keys[p] for k, p in zip(middle.keys, middle.parent)}
    assert up == {BCN[0]: CT[0], CT[0]: CT[0], EIX[0]: CT[0], ES[0]: ES[0]}
    up = {k: middle.keys[p] for k, p in zip(fine.keys, fine.parent)}
    assert up == {BCN[0]: BCN[0], CT[0]: CT[0], EIX[0]: EIX[0], MAD[0]: ES[0]}
    assert list(coarse.parent) == [-1, -1]
    # labels follow the path; positions are the mean of the assigned samples
    assert fine.label(fine.index_of(EIX[0])) == "Eixample, Barcelona, Catalonia, Spain"
    i = fine.index_of(EIX[0])
    assert fine.lat[i] == pytest.approx(np.mean([41.39, 41.391, 41.392, 41.393, 41.394, 41.395]), abs=1e-6)
    assert fine.lon[i] == pytest.approx(2.16, abs=1e-9)
    j = fine.index_of(CT[0])  # Girona x2 + the rare place -> Catalonia
    assert fine.lat[j] == pytest.approx((2 * 41.98 + 42.0) / 3, abs=1e-5)
    # targets: France is unused everywhere; a Girona sample is Catalonia at every level
    assert (r.targets[-2:] == -1).all()
    girona = 9
    assert [p.keys[t] for p, t in zip(r.partitionings, r.targets[girona])] == [CT[0], CT[0], CT[0]]
    assert [p.keys[t] for p, t in zip(r.partitionings, r.targets[0])] == [CT[0], EIX[0], EIX[0]]
    # the rare location is gone from the hierarchy; the shortcut did not change Eixample's parent
    assert XYZ[0] not in r.hierarchy and r.hierarchy.parent[EIX[0]] == BCN[0]


def test_new_data_goes_to_the_finest_available_class(world):
    addresses, lat, lon = world
    r = build_semp_partitionings(lat, lon, addresses, tau_d=2, tau_min=(3, 5, 10))
    parts = r.partitionings
    new = [
        [EIX, BCN, CT, ES],
        [GIR, CT, ES],                               # Girona is a location, but no class
        [("ES/CT/city:Unknown", "Unknown"), BCN, CT, ES],  # unknown finest location: skip to Barcelona
        [("ES/MD/city:Alcala", "Alcala"), MD, ES],   # Madrid region only: Spain in coarse/middle, nothing fine
        [PAR, IDF, FR],
        [],
    ]
    got = [[p.keys[c] if c >= 0 else None for p, c in zip(parts, row)] for row in assign(new, r.hierarchy, parts)]
    assert got == [
        [CT[0], EIX[0], EIX[0]],
        [CT[0], CT[0], CT[0]],
        [CT[0], BCN[0], BCN[0]],
        [ES[0], ES[0], None],
        [None, None, None],
        [None, None, None],
    ]
    # the training samples themselves get their training targets back
    assert (assign(addresses, r.hierarchy, parts) == r.targets).all()


def test_too_few_samples_is_a_clear_error(world):
    addresses, lat, lon = world
    with pytest.raises(ValueError, match="no location has 100 samples"):
        build_semp_partitionings(lat, lon, addresses, tau_d=1, tau_min=(100,))


def test_mean_position_handles_the_antimeridian():
    la, lo = mean_position(np.array([-17.0, -17.0]), np.array([179.5, -179.5]))
    assert la == pytest.approx(-17.0, abs=1e-3) and abs(lo) == pytest.approx(180.0, abs=1e-6)
    la, lo = mean_position(np.array([10.0, 20.0]), np.array([5.0, 5.0]))
    assert lo == pytest.approx(5.0) and la == pytest.approx(15.0, abs=0.05)
