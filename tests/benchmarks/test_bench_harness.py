"""benchmarks/harness.py, the one timer of every benchmark: order, warm-up, medians, refusals, doc blocks.

Fake callables and a fake clock: nothing here depends on how fast the machine is."""
import argparse

import pytest


@pytest.fixture(scope="module")
def harness(benchmarks_on_path):
    import harness

    return harness


class FakeClock:
    """Stands in for ``time`` in the harness: a call "takes" what the fake callable says it takes."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def perf_counter(self) -> float:
        return self.wall

    def process_time(self) -> float:
        return self.cpu

    def spend(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def recorder(calls: list[str], label: str):
    def call():
        calls.append(label)
        return f"{label}#{sum(c == label for c in calls)}"
    return call


def test_compare_warms_up_both_sides_then_alternates_who_goes_first(harness):
    calls: list[str] = []
    result = harness.compare("fake", recorder(calls, "ours"), recorder(calls, "peer"), rounds=4)
    assert calls == ["ours", "peer",  # warm-up, one call each, not timed
                     "ours", "peer", "peer", "ours", "ours", "peer", "peer", "ours"]
    assert len(result.ours.wall) == len(result.peer.cpu) == result.rounds == 4


def test_time_rotating_starts_each_round_one_label_later(harness):
    calls: list[str] = []
    run = harness.time_rotating({k: recorder(calls, k) for k in "abc"}, rounds=3, warmup=2)
    assert calls == list("abc" "abc" "abc" "bca" "cab")
    assert {k: len(t.wall) for k, t in run.timings.items()} == {"a": 3, "b": 3, "c": 3}
    assert run.outputs == {"a": "a#5", "b": "b#5", "c": "c#5"}  # the last call's output, warm-ups counted


def test_medians_and_spread_come_from_the_timed_rounds_only(harness, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(harness, "time", clock)
    costs = {"ours": iter([(100.0, 90.0), (5.0, 4.0), (1.0, 2.0), (3.0, 6.0)]),  # first: the warm-up
             "peer": iter([(50.0, 50.0), (8.0, 8.0), (6.0, 12.0), (10.0, 10.0)])}

    def side(name):
        return lambda: clock.spend(*next(costs[name]))

    result = harness.compare("fake", side("ours"), side("peer"), rounds=3, agree=lambda a, b: {"same": 1.0})
    assert result.ours.wall == [5.0, 1.0, 3.0] and result.ours.cpu == [4.0, 2.0, 6.0]
    assert result.ours.median_wall == 3.0 and result.ours.median_cpu == 4.0
    assert result.ours.spread("wall") == pytest.approx((5 - 1) / 3)
    assert result.ours.spread() == pytest.approx((6 - 2) / 4)  # CPU by default
    assert result.peer.median_wall == 8.0 and result.peer.median_cpu == 10.0
    assert result.cpu_ratio == pytest.approx(10 / 4) and result.wall_ratio == pytest.approx(8 / 3)
    assert result.cores_busy("peer") == pytest.approx(10 / 8)
    assert result.agreement == {"same": 1.0}


def test_a_table_of_variants_gives_per_image_medians_and_ratios_to_the_reference(harness):
    slow, fast = harness.Timings([4.0, 2.0, 3.0], [8.0, 6.0, 4.0]), harness.Timings([1.0, 1.5, 0.5], [2.0, 1.0, 3.0])
    run = harness.Rotation({"peer": slow, "ours": fast}, {"peer": 1, "ours": 2}, rounds=3)
    table = harness.rotation_table(run, reference="peer", per=2, extra={"ours": {"spearman": "0.99"}})
    head, rule, peer_row, ours_row = table.splitlines()
    assert head.split(" | ")[-1] == "spearman |" and rule.count("|---") == 8
    # CPU 2.0 / 2 images, wall 1.0 / 2, spread CPU 100 % / wall 100 %, cores 2.0, x peer 3.0 CPU and wall
    assert ours_row == "| ours | 1.000 | 0.500 | 100% / 100% | 2.00 | 3.00 | 3.00 | 0.99 |"
    assert peer_row.endswith("| 1.00 | 1.00 | - |")
    assert run.against("ours", "peer", agree=lambda a, b: {"sum": a + b}).agreement == {"sum": 3}


@pytest.mark.parametrize("rounds", [0, 1, 2])
def test_fewer_than_three_rounds_are_refused(harness, rounds):
    with pytest.raises(ValueError, match="at least 3 rounds"):
        harness.compare("fake", lambda: None, lambda: None, rounds=rounds)
    with pytest.raises(ValueError, match="at least 3 rounds"):
        harness.time_rotating({"a": lambda: None}, rounds=rounds)


def test_the_rounds_option_refuses_fewer_than_three_in_one_line(harness, capsys):
    parser = argparse.ArgumentParser(prog="bench")
    harness.timing_arguments(parser)
    assert vars(parser.parse_args([])) == {"threads": 1, "rounds": 3}
    with pytest.raises(SystemExit):
        parser.parse_args(["--rounds", "2"])
    assert "argument --rounds: 2: at least 3 rounds" in capsys.readouterr().err.splitlines()[-1]


def test_a_missing_peer_stops_with_one_line(harness):
    harness.require_peer("argparse", "argparse")  # installed: nothing happens
    with pytest.raises(SystemExit) as stop:
        harness.require_peer("no_such_peer_library_xyz", "no-such-peer")
    assert "no-such-peer" in str(stop.value) and "pip install no-such-peer" in str(stop.value)
    assert "\n" not in str(stop.value)


def test_replace_block_rewrites_its_block_only(harness, tmp_path):
    doc = tmp_path / "bench.md"
    doc.write_text("# Title\nkept above\n<!-- compare:begin -->\nold table\nold line\n<!-- compare:end -->\n"
                   "kept between\n<!-- other:begin -->\nother block\n<!-- other:end -->\nkept below\n")
    harness.replace_block(doc, "compare", "new table\n\n")
    assert doc.read_text() == ("# Title\nkept above\n<!-- compare:begin -->\nnew table\n<!-- compare:end -->\n"
                               "kept between\n<!-- other:begin -->\nother block\n<!-- other:end -->\nkept below\n")


def test_replace_block_refuses_a_file_without_the_block_in_one_line(harness, tmp_path):
    doc = tmp_path / "bench.md"
    original = "# Title\n<!-- other:begin -->\nx\n<!-- other:end -->\n"
    doc.write_text(original)
    with pytest.raises(SystemExit) as stop:
        harness.replace_block(doc, "compare", "new")
    assert str(doc) in str(stop.value) and "compare:begin" in str(stop.value) and "\n" not in str(stop.value)
    assert doc.read_text() == original


def test_describe_machine_names_cpu_flags_and_threads(harness):
    info = {"cpu": "Fake CPU", "isa": ["avx2", "avx512f"], "cores": 2, "torch": "9.9", "threads": 1,
            "aten": "AVX512"}
    assert harness.describe_machine(info) == ("Fake CPU (avx2, avx512f; ATen AVX512), 2 cores, torch 9.9, "
                                              "1 torch thread(s)")
    assert "no AVX2" in harness.describe_machine({**info, "isa": []})
