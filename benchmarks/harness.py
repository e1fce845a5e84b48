"""One harness for every like-for-like benchmark: geoxai against the peer measured in the same run.

Both sides are warmed up, then timed for ``rounds`` rounds in rotating order (ours first in round
0, the peer first in round 1, ...), so neither side always runs on a cold cache or in the quiet
minute. Each call is timed by wall clock and by this process's CPU time; the summary is the
median and the spread (min-max) of each, and the ratios are ``peer / ours`` (> 1: geoxai is
faster). ``machine()`` names what the figures came from: CPU model, the ISA flags that change
float32 and bfloat16 kernels, torch and its thread count.
"""
from __future__ import annotations

import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: CPU flags that decide which kernels run (float32 width, bfloat16 and AMX units)
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def machine() -> dict[str, Any]:
    """CPU model and kernel-relevant flags, core count, torch version and thread count."""
    import torch

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {"cpu": model, "isa": [f for f in ISA_FLAGS if f in flags], "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "aten": torch.backends.cpu.get_cpu_capability()}


def describe_machine(info: dict[str, Any] | None = None) -> str:
    info = info or machine()
    isa = ", ".join(info["isa"]) or "no AVX2"
    return (f"{info['cpu']} ({isa}; ATen {info['aten']}), {info['cores']} cores, torch {info['torch']}, "
            f"{info['threads']} torch thread(s)")


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    def spread(self, which: str = "cpu") -> float:
        """(max - min) / median of the rounds: how far to trust the median."""
        values = getattr(self, which)
        middle = statistics.median(values)
        return (max(values) - min(values)) / middle if middle > 0 else 0.0


@dataclass
class Comparison:
    """The result of ``compare``: per-side timings, the peer's extra work if any, and whatever the
    case measured about the two outputs (e.g. the largest map difference)."""

    name: str
    ours: Timings
    peer: Timings
    rounds: int
    note: str = ""
    agreement: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_ratio(self) -> float:
        return self.peer.median_cpu / self.ours.median_cpu

    @property
    def wall_ratio(self) -> float:
        return self.peer.median_wall / self.ours.median_wall

    def cores_busy(self, side: str = "ours") -> float:
        """CPU seconds per wall second: how many cores a side kept busy."""
        timings = self.ours if side == "ours" else self.peer
        return timings.median_cpu / timings.median_wall

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rounds": self.rounds, "note": self.note, "agreement": self.agreement,
                "ours": {"wall": self.ours.wall, "cpu": self.ours.cpu},
                "peer": {"wall": self.peer.wall, "cpu": self.peer.cpu},
                "cpu_ratio": self.cpu_ratio, "wall_ratio": self.wall_ratio,
                "cores_busy": {"ours": self.cores_busy("ours"), "peer": self.cores_busy("peer")}}


def timed_call(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def compare(name: str, ours: Callable[[], Any], peer: Callable[[], Any], rounds: int = 3, warmup: int = 1,
            note: str = "", agree: Callable[[Any, Any], dict[str, float]] | None = None) -> Comparison:
    """Warm up both sides, then time ``rounds`` rounds in rotating order; ``agree(ours_out, peer_out)``
    measures how close the two outputs are (computed once, outside the timings)."""
    if rounds < 3:
        raise ValueError("compare: at least 3 rounds, so a median and a spread mean something")
    sides = {"ours": ours, "peer": peer}
    outputs: dict[str, Any] = {}
    for _ in range(warmup):
        for side, fn in sides.items():
            outputs[side] = fn()
    timings = {"ours": Timings(), "peer": Timings()}
    order = ["ours", "peer"]
    for r in range(rounds):
        for side in order[r % 2:] + order[:r % 2]:
            wall, cpu, outputs[side] = timed_call(sides[side])
            timings[side].add(wall, cpu)
    agreement = agree(outputs["ours"], outputs["peer"]) if agree else {}
    return Comparison(name, timings["ours"], timings["peer"], rounds, note, agreement)


def markdown_table(results: list[Comparison]) -> str:
    """The comparisons as a Markdown table (CPU-time ratio first: steadier than wall time)."""
    lines = ["| comparison | peer / geoxai (CPU) | (wall) | spread ours / peer | cores busy ours / peer | "
             "agreement | peer's extra work |",
             "|---|---|---|---|---|---|---|"]
    for c in results:
        agreement = ", ".join(f"{k} {v:.3g}" for k, v in c.agreement.items()) or "-"
        lines.append(f"| {c.name} | **{c.cpu_ratio:.2f}** | {c.wall_ratio:.2f} | "
                     f"{c.ours.spread():.0%} / {c.peer.spread():.0%} | "
                     f"{c.cores_busy('ours'):.2f} / {c.cores_busy('peer'):.2f} | {agreement} | {c.note or '-'} |")
    return "\n".join(lines)


def replace_block(path: Path, name: str, text: str) -> None:
    """Rewrite what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in the Markdown
    file ``path`` (the generated parts of docs/benchmarks.md); the rest of the file is kept."""
    doc = path.read_text()
    pattern = re.compile(rf"(<!-- {re.escape(name)}:begin -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no <!-- {name}:begin --> ... <!-- {name}:end --> block to update")
    path.write_text(pattern.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), doc))
