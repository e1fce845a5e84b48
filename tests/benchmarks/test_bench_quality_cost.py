"""benchmarks/bench_quality_cost.py's arithmetic: the pass counter, medians over rounds, the ratios
line. The measurement itself runs geoxai quality on the real network (minutes): not a test."""
import pytest
import torch


@pytest.fixture(scope="module")
def cost(benchmarks_on_path):
    import bench_quality_cost

    return bench_quality_cost


def test_the_counter_counts_images_forwarded_and_back_propagated(cost):
    net = torch.nn.Linear(3, 2)
    counter = cost.PassCounter(net)
    with torch.no_grad():
        net(torch.rand(5, 3))                       # 5 forwarded, none back
    x = torch.rand(3, 3, requires_grad=True)
    net(x).sum().backward()                         # 3 forwarded, 3 back
    counter.handle.remove()
    assert (counter.forward, counter.backward) == (8, 3)
    assert counter.units == 11 / 16


def test_medians_over_rounds_and_the_ratio_line(cost):
    rounds = [{"unit_seconds": 0.5, "rows": [{"explainer": "ig", "units": 100.0, "cpu": 50.0}]},
              {"unit_seconds": 1.0, "rows": [{"explainer": "ig", "units": 100.0, "cpu": 70.0}]},
              {"unit_seconds": 0.5, "rows": [{"explainer": "ig", "units": 100.0, "cpu": 60.0}]}]
    now = cost.summarise(rounds)
    assert now == {"ig": {"units": 100.0, "cpu": 60.0, "time_units": 100.0}}  # time units: 100, 70, 120
    before = {"ig": {"units": 300.0, "cpu": 240.0, "time_units": 400.0}, "other": {"units": 1, "cpu": 1,
                                                                                 "time_units": 1}}
    (line,) = cost.ratios(before, now, "abc1234")
    assert line.startswith("- ig (each side's own defaults): abc1234 / this tree = **4.00x** in time units")
    assert "3.00x in counted units, 4.00x in CPU seconds" in line
    assert "| ig | this tree | 100.0 | 60.0 | 100.0 |" in cost.markdown({"this tree": now})
