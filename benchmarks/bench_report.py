"""Throughput of the whole ``geoxai report`` pipeline (decode -> predict -> explain -> segment ->
ci -> Parquet parts), on the tiny model and on a ResNet-50-sized model with random weights.

    PYTHONPATH=. python benchmarks/bench_report.py                 # a few minutes on 2 CPUs
    PYTHONPATH=. python benchmarks/bench_report.py --sizes 100 1000 10000 --resnet-images 200

Reports images/second per run and per-image time at each dataset size, so you can see whether the
pipeline's cost per image stays flat as the dataset grows (it should: it streams). Summary,
plots and HTML are timed separately (they depend on the number of rows, not on the model).
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import ResNet50Geo  # the scripts' folder is on sys.path when run as a script
from harness import describe_machine
from PIL import Image

from geoxai.hookspecs import hookimpl
from geoxai.plugins import register_plugin
from geoxai.report import ReportConfig, RunOptions
from geoxai.report.outputs import finalize
from geoxai.report.pipeline import plan, run_local
from geoxai.testing import synthetic_photo, tiny_partitionings
from geoxai.views import ViewConfig


class ResNet50GeoModel(ResNet50Geo):
    """The benchmark ResNet-50 over the tiny model's 8 cells, as a registrable model."""

    name = "bench-resnet50"

    @classmethod
    def view_config_for(cls, input_size: int = 224) -> ViewConfig:
        return ViewConfig.for_crop(input_size)  # the view is data: the registry and the model agree

    def __init__(self, input_size: int = 224) -> None:
        super().__init__(size=input_size, partitionings=tiny_partitionings())


class _BenchPlugin:
    @hookimpl
    def register_models(self, register):
        register("bench-resnet50", ResNet50GeoModel, description="benchmark: random ResNet-50")


def make_images(folder: Path, n: int, size: tuple[int, int]) -> Path:
    """``n`` photos reusing a pool of 50 distinct JPEGs (decoding cost is per file, not per pool)."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = []
    for i in range(min(n, 50)):
        p = folder / f"pool{i}.jpg"
        Image.fromarray(synthetic_photo(i, *size)).save(p, quality=90)
        pool.append(p.name)
    rng = np.random.default_rng(0)
    path = folder / f"data{n}.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "lat", "lon", "id"])
        for i in range(n):
            w.writerow([pool[i % len(pool)], f"{rng.uniform(-60, 60):.4f}", f"{rng.uniform(-180, 180):.4f}",
                        f"img{i:06d}"])
    return path


#: the segmenters a report row can be timed with: the 1x1-conv ``tiny`` (the pipeline's own cost) and
#: smp's FPN on MobileNet-V2 with random weights (a real segmentation network's cost, 150 ADE20k classes)
SEGMENTERS = {"tiny": {"num_concepts": 150}, "smp": {"scales": 300}}


def bench(model: str, explainer: str, data: Path, out: Path, batch_size: int, workers: int,
          model_options: dict | None = None, segmenter: str = "tiny") -> dict:
    shutil.rmtree(out, ignore_errors=True)
    config = ReportConfig(model=model, explainer=explainer, segmenter=segmenter, model_options=model_options or {},
                          segmenter_options=SEGMENTERS[segmenter], k=1000)
    options = RunOptions(batch_size=batch_size, workers=workers, progress=False)
    store, pending, _ = plan(config, data, out, options.shard)
    t0 = time.perf_counter()
    n = run_local(config, pending, store, options)
    rows_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    finalize(out, min_images=10)
    return {"images": n, "seconds": rows_s, "img_per_s": n / rows_s, "ms_per_img": 1000 * rows_s / n,
            "finalize_s": time.perf_counter() - t1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="dataset sizes for the tiny model")
    ap.add_argument("--resnet-images", type=int, default=24, help="images for the ResNet-50 run (0: skip)")
    ap.add_argument("--resnet-size", type=int, default=224, help="ResNet-50 input size")
    ap.add_argument("--explainer", default="gradcam")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's choice)")
    ap.add_argument("--segmenter", choices=sorted(SEGMENTERS), default="smp",
                    help="segmenter of the ResNet-50 row (smp: a real network with random weights)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_plugin(_BenchPlugin(), "geoxai-bench")
    print(f"machine: {describe_machine()}")
    print(f"device cpu, explainer {args.explainer}, batch {args.batch_size}, {args.workers} decoding worker(s); "
          f"each run timed once (a streaming run over a dataset, not a repeated call)")
    print(f"{'model':<16}{'images':>8}{'seconds':>10}{'img/s':>9}{'ms/img':>9}{'summary s':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.sizes:
            data = make_images(tmp / "tiny-data", n, (96, 128))
            r = bench("tiny", args.explainer, data, tmp / f"tiny-{n}", args.batch_size, args.workers)
            print(f"{'tiny (64 px)':<16}{r['images']:>8}{r['seconds']:>10.1f}{r['img_per_s']:>9.1f}"
                  f"{r['ms_per_img']:>9.1f}{r['finalize_s']:>11.1f}", flush=True)
        if args.resnet_images:
            data = make_images(tmp / "rn-data", args.resnet_images, (256, 320))
            r = bench("bench-resnet50", args.explainer, data, tmp / "rn", args.batch_size, args.workers,
                      {"input_size": args.resnet_size}, segmenter=args.segmenter)
            label = f"resnet50+{args.segmenter} ({args.resnet_size})"
            print(f"{label:<16}{r['images']:>8}{r['seconds']:>10.1f}{r['img_per_s']:>9.1f}"
                  f"{r['ms_per_img']:>9.1f}{r['finalize_s']:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
