"""One harness for every benchmark: geoxai against a peer, or several variants of our own.

Every callable is warmed up, then timed for ``rounds`` rounds in rotating order (round r starts at
the r-th callable: ours first in round 0, the peer first in round 1, ...), so none always runs on a
cold cache or in the quiet minute. Each call is timed by wall clock and by this process's CPU time;
the summary is the median and the spread ((max - min) / median) of each, and the ratios are
``peer / ours`` (> 1: geoxai is faster). ``machine()`` names what the figures came from: CPU model,
the ISA flags that change float32 and bfloat16 kernels, torch and its thread count.
"""
from __future__ import annotations

import argparse
import importlib
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


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN where the denominator is 0 (a call too short for the clock)."""
    return numerator / denominator if denominator > 0 else float("nan")


def timed_call(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


@dataclass
class Rotation:
    """What ``time_rotating`` measured: per label its timings and the output of its last call."""

    timings: dict[str, Timings]
    outputs: dict[str, Any]
    rounds: int

    def against(self, label: str, peer: str, name: str | None = None, note: str = "",
                agree: Callable[[Any, Any], dict[str, float]] | None = None) -> Comparison:
        """``label`` (ours) against ``peer`` from the same rounds; ``agree(ours_out, peer_out)`` measures
        how close their outputs are."""
        agreement = agree(self.outputs[label], self.outputs[peer]) if agree else {}
        return Comparison(name or f"{label} vs {peer}", self.timings[label], self.timings[peer], self.rounds,
                          note, agreement)


def time_rotating(calls: dict[str, Callable[[], Any]], rounds: int = 3, warmup: int = 1) -> Rotation:
    """Warm up every callable ``warmup`` times, then call each once per round for ``rounds`` rounds; round r
    starts at the (r mod n)-th callable and wraps around, so no callable always runs first or last."""
    if rounds < 3:
        raise ValueError("time_rotating: at least 3 rounds, so a median and a spread mean something")
    if not calls:
        raise ValueError("time_rotating: nothing to time")
    labels = list(calls)
    outputs: dict[str, Any] = {}
    for _ in range(warmup):
        for label in labels:
            outputs[label] = calls[label]()
    timings = {label: Timings() for label in labels}
    for r in range(rounds):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            wall, cpu, outputs[label] = timed_call(calls[label])
            timings[label].add(wall, cpu)
    return Rotation(timings, outputs, rounds)


def compare(name: str, ours: Callable[[], Any], peer: Callable[[], Any], rounds: int = 3, warmup: int = 1,
            note: str = "", agree: Callable[[Any, Any], dict[str, float]] | None = None) -> Comparison:
    """Warm up both sides, then time ``rounds`` rounds in rotating order; ``agree(ours_out, peer_out)``
    measures how close the two outputs are (computed once, outside the timings)."""
    run = time_rotating({"ours": ours, "peer": peer}, rounds, warmup)
    return run.against("ours", "peer", name, note, agree)


def rotation_table(run: Rotation, reference: str | None = None, per: int = 1, unit: str = "image",
                   extra: dict[str, dict[str, str]] | None = None) -> str:
    """The timings of ``run`` as a Markdown table: median CPU and wall seconds per ``unit`` (each call
    handles ``per`` of them), their spread, the cores kept busy, and, given a ``reference`` label, the
    ratios reference / row (> 1: the row is faster); ``extra`` adds columns per label (e.g. fidelity)."""
    columns = list(dict.fromkeys(c for cells in (extra or {}).values() for c in cells))
    head = [f"CPU s / {unit}", f"wall s / {unit}", "spread CPU / wall", "cores busy"]
    if reference:
        head += [f"x {reference} (CPU)", "(wall)"]
    lines = ["| variant | " + " | ".join(head + columns) + " |", "|---" * (len(head) + len(columns) + 1) + "|"]
    for label, t in run.timings.items():
        cells = [f"{t.median_cpu / per:.3f}", f"{t.median_wall / per:.3f}",
                 f"{t.spread('cpu'):.0%} / {t.spread('wall'):.0%}", f"{ratio(t.median_cpu, t.median_wall):.2f}"]
        if reference:
            ref = run.timings[reference]
            cells += [f"{ratio(ref.median_cpu, t.median_cpu):.2f}", f"{ratio(ref.median_wall, t.median_wall):.2f}"]
        cells += [(extra or {}).get(label, {}).get(c, "-") for c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def at_least_3(text: str) -> int:
    rounds = int(text)
    if rounds < 3:
        raise argparse.ArgumentTypeError(f"{rounds}: at least 3 rounds, so a median and a spread mean something")
    return rounds


def timing_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: ``--threads`` (torch threads, 1 by default, the same for every
    side) and ``--rounds`` (timed rounds in rotating order after one warm-up each, at least 3)."""
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--rounds", type=at_least_3, default=3,
                        help="timed rounds in rotating order after one warm-up of each side (>= 3; default 3)")


def require_peer(module: str, package: str) -> None:
    """Stop with one line, not a traceback, when a benchmark-only peer library cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise SystemExit(f"this benchmark compares with {package}, which cannot be imported ({error}; "
                         f"pip install {package}: a benchmark-only peer, no test needs it)") from None


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
