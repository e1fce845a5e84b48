"""What `geoxai quality` costs per image, in units comparable across machines (and against another revision).

This tree is measured, and with ``--against`` another revision of geoxai in the same run.

The unit is one forward+backward pass of a batch of 8 images through the same network (issue 24):
every forward pass the run makes is counted in images (a forward hook on the network), every
backward pass through it too (a tensor hook on its output), and

    units = (images forwarded + images back-propagated) / (8 + 8)

so the count depends on the work, not on the CPU. The CPU seconds per image are printed beside it,
and in time units too: divided by the CPU seconds of one such batch-8 forward+backward pass timed
in the same process (the issue's measure, which also counts the work outside the network: fills,
sorting, the randomised copies of the sanity check, and how fast the passes themselves run). The
network is the real ImageNet EfficientNet-Lite0 (``imagenet-lite0``), the photos the real sample
photos.

``--against REV`` also measures the code of git revision REV (exported with ``git archive``; it runs
with this environment's packages), each side in a process of its own, in rotating order when there
are several rounds, so "cheaper than before" is a ratio from one run on one machine.
``--update-docs FILE`` rewrites the ``quality-cost`` block of FILE (docs/benchmarks.md).

    PYTHONPATH=. python benchmarks/bench_quality_cost.py --photos 2
    PYTHONPATH=. python benchmarks/bench_quality_cost.py --photos 2 --rounds 3 --against e641228 \\
        --update-docs docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from harness import describe_machine, machine, replace_block, timing_arguments  # scripts' folder on sys.path

UNIT_IMAGES = 8
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EXPLAINERS = ["gradcam", "lrp", "ig-smoothgrad", "ig-smoothgrad:preset=paper"]


class PassCounter:
    """Counts the images each forward and backward pass of ``module`` carries."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.forward = self.backward = 0
        self.handle = module.register_forward_hook(self._forward)

    def _forward(self, module, inputs, output) -> None:
        rows = int(output.shape[0])
        self.forward += rows
        if output.requires_grad:
            output.register_hook(lambda grad, rows=rows: self._backward(rows))

    def _backward(self, rows: int) -> None:
        self.backward += rows

    @property
    def units(self) -> float:
        return (self.forward + self.backward) / (2 * UNIT_IMAGES)


def time_one_unit(model, repeats: int = 5) -> float:
    """Median CPU seconds of one forward+backward pass of a batch of 8 (input gradient only, as the
    explainers run it)."""
    x = torch.rand(UNIT_IMAGES, 3, 224, 224)
    model.requires_grad_(False)
    times = []
    for _ in range(repeats + 1):
        start = time.process_time()
        inputs = x.clone().requires_grad_(True)
        model(inputs).sum().backward()
        times.append(time.process_time() - start)
    model.requires_grad_(True)
    return statistics.median(times[1:])


def parse_explainer(text: str):
    """``name[:key=value,...]`` -> ExplainerSpec. Its own small parser, not geoxai.options.parse_options:
    it also runs inside the older revisions measured with --against, which may predate that module."""
    from geoxai.quality.worker import ExplainerSpec

    name, _, rest = text.partition(":")
    options = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        options[key] = int(value) if value.isdigit() else value
    return ExplainerSpec(name, options)


def measure(explainers: list[str], photos: int) -> dict:
    """Runs ``geoxai quality`` for each explainer on ``photos`` real photos in this process (with
    whichever geoxai is importable): the unit's CPU seconds and, per explainer, the counted units and
    CPU seconds per image."""
    from PIL import Image

    from geoxai.quality.run import run_quality
    from geoxai.quality.worker import QualityOptions
    from geoxai.realnet import ImageNetLite0, real_photos

    model = ImageNetLite0()
    counter = PassCounter(model.net)
    unit_seconds = time_one_unit(model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, photo in list(real_photos().items())[:photos]:
            path = Path(tmp) / f"{name}.jpg"
            Image.fromarray(photo).save(path, quality=95)
            paths.append(str(path))
        for text in explainers:
            spec = parse_explainer(text)
            counter.forward = counter.backward = 0
            cpu = time.process_time()
            run_quality("imagenet-lite0", [spec], Path(tmp) / f"q-{len(rows)}", images=paths,
                        options=QualityOptions(progress=False, workers=0), baselines=False, model=model)
            rows.append({"explainer": text, "units": counter.units / len(paths),
                         "cpu": (time.process_time() - cpu) / len(paths)})
    counter.handle.remove()
    return {"machine": machine(), "unit_seconds": unit_seconds, "rows": rows}


def exported_tree(rev: str, into: Path) -> Path:
    """The files of git revision ``rev`` of this repository, unpacked under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"--against {rev}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def revision_name(rev: str = "HEAD") -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True)
    name = out.stdout.strip() or rev
    if rev == "HEAD":
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        name += " + uncommitted changes" if dirty else ""
    return name


def run_side(tree: Path, explainers: list[str], args) -> dict:
    """``measure`` in a process of its own, importing geoxai from ``tree``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--photos", str(args.photos),
           "--threads", str(args.threads)]
    for text in explainers:
        cmd += ["--explainer", text]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(rounds: list[dict]) -> dict[str, dict[str, float]]:
    """Per explainer, the median over rounds of counted units, CPU seconds and time units per image."""
    out: dict[str, dict[str, list[float]]] = {}
    for result in rounds:
        for row in result["rows"]:
            entry = out.setdefault(row["explainer"], {"units": [], "cpu": [], "time_units": []})
            entry["units"].append(row["units"])
            entry["cpu"].append(row["cpu"])
            entry["time_units"].append(row["cpu"] / result["unit_seconds"])
    return {name: {k: statistics.median(v) for k, v in values.items()} for name, values in out.items()}


def markdown(sides: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| explainer | code | units per image (counted) | CPU s per image | time units per image |",
             "|---|---|---|---|---|"]
    for code, rows in sides.items():
        for name, m in rows.items():
            lines.append(f"| {name} | {code} | {m['units']:.1f} | {m['cpu']:.1f} | {m['time_units']:.1f} |")
    return "\n".join(lines)


def ratios(before: dict[str, dict[str, float]], now: dict[str, dict[str, float]], label: str) -> list[str]:
    """One line per explainer measured on both sides: before / now (> 1: cheaper now)."""
    return [f"- {name} (each side's own defaults): {label} / this tree = "
            f"**{before[name]['time_units'] / m['time_units']:.2f}x** in time units, "
            f"{before[name]['units'] / m['units']:.2f}x in counted units, "
            f"{before[name]['cpu'] / m['cpu']:.2f}x in CPU seconds"
            for name, m in now.items() if name in before]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=2)
    ap.add_argument("--explainer", action="append",
                    help="name[:key=value,...] (repeatable); default: " + ", ".join(DEFAULT_EXPLAINERS))
    ap.add_argument("--against", metavar="REV", help="also measure geoxai at this git revision")
    ap.add_argument("--against-explainer", action="append",
                    help="what to measure at REV (repeatable); default ig-smoothgrad (that revision's defaults)")
    timing_arguments(ap)  # --threads (1) and --rounds (>= 3) per side, in rotating order
    ap.add_argument("--json", action="store_true", help="(internal) measure in this process, print JSON")
    ap.add_argument("--update-docs", type=Path, help="rewrite the quality-cost block of this Markdown file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    explainers = args.explainer or DEFAULT_EXPLAINERS
    if args.json:
        print(json.dumps(measure(explainers, args.photos)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        sides = {f"this tree ({revision_name()})": (ROOT, explainers)}
        if args.against:
            before = args.against_explainer or ["ig-smoothgrad"]
            sides[revision_name(args.against)] = (exported_tree(args.against, Path(tmp)), before)
        results: dict[str, list[dict]] = {name: [] for name in sides}
        order = list(sides)
        for r in range(args.rounds):
            for name in order[r % len(order):] + order[:r % len(order)]:
                print(f"[round {r + 1}] {name} ...", file=sys.stderr, flush=True)
                results[name].append(run_side(*sides[name], args))
    summary = {name: summarise(rounds) for name, rounds in results.items()}
    info = results[order[0]][0]["machine"]
    command = (f"PYTHONPATH=. python benchmarks/bench_quality_cost.py --photos {args.photos} --threads {args.threads} "
               f"--rounds {args.rounds}" + (f" --against {args.against}" if args.against else ""))
    unit = ", ".join(f"{statistics.median(x['unit_seconds'] for x in rounds):.3f} CPU s ({name})"
                     for name, rounds in results.items())
    text = (f"Machine: {describe_machine(info)}; {args.photos} real photos, {args.rounds} round(s) per side; "
            f"one unit = {unit}; command: `{command}`, {datetime.date.today().isoformat()}.\n\n{markdown(summary)}")
    if args.against:
        text += "\n\n" + "\n".join(ratios(summary[order[1]], summary[order[0]], order[1]))
    print(text)
    if args.update_docs:
        replace_block(args.update_docs, "quality-cost", text)


if __name__ == "__main__":
    main()
