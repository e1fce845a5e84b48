"""The measured quality table of docs/quality.md: the four built-in explainers on the real network.

Runs ``geoxai.quality.run_quality`` (the code behind ``geoxai quality``) on the ImageNet
EfficientNet-Lite0 (``imagenet-lite0``) and the real sample photos, with the smooth-random and
centre-bias baselines, then prints summary.md. Stability of the ci uses SLIC superpixels of each
photo as its "concepts" (no ADE20k segmenter weights offline): every superpixel is a region whose ci
is compared between two noise seeds. Resumable: rerun the same command to continue.

    PYTHONPATH=. python benchmarks/quality_table.py --out /tmp/quality-table
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from geoxai.interfaces import Segmenter
from geoxai.quality.run import ExplainerSpec, QualityOptions, run_quality
from geoxai.quality.store import QualityConfig


class SlicSegmenter(Segmenter):
    """SLIC superpixels (skimage) as numbered regions: a real, model-free segmentation."""

    name = "slic"

    def __init__(self, segments: int = 12) -> None:
        self.segments = segments
        self.concepts = [f"region{i}" for i in range(4 * segments)]

    def segment(self, images):
        from skimage.segmentation import slic

        pixels = images.pixels if hasattr(images, "pixels") else images
        out = []
        for image in pixels.permute(0, 2, 3, 1).numpy():
            labels = slic(image, n_segments=self.segments, compactness=10, start_label=0)
            out.append(torch.as_tensor(np.minimum(labels, len(self.concepts) - 1)))
        return torch.stack(out).long()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/geoxai-quality-table")
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--ig-samples", type=int, default=5)
    parser.add_argument("--ig-steps", type=int, default=8)
    parser.add_argument("--ig-budget", type=int, default=None,
                        help="run ig-smoothgrad with budget=N instead of --ig-samples x --ig-steps")
    parser.add_argument("--explainers", default="gradcam,combicam,lrp,ig-smoothgrad")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from PIL import Image

    from geoxai.realnet import ImageNetLite0, real_photos

    torch.set_num_threads(args.threads)
    folder = Path(args.out) / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    names = list(real_photos().items())[: args.photos]
    for name, image in names:
        if not (folder / f"{name}.png").exists():
            Image.fromarray(image).save(folder / f"{name}.png")
    ig = {"budget": args.ig_budget} if args.ig_budget else {"n_samples": args.ig_samples, "n_steps": args.ig_steps}
    specs = [ExplainerSpec(e, ig if e == "ig-smoothgrad" else {}) for e in args.explainers.split(",") if e]
    config = QualityConfig(model="imagenet-lite0", steps=args.steps, orders=("most", "least"),
                           stability_seeds=(0, 1), segmenter="slic", k=1000)
    options = QualityOptions(batch_size=1, workers=0, forward_batch=32, part_size=1)
    start = time.perf_counter()
    run_quality("imagenet-lite0", specs, Path(args.out) / "result", images=[str(folder)], config=config,
                options=options, model=ImageNetLite0(), segmenter=SlicSegmenter())
    print(f"{time.perf_counter() - start:.0f} s")
    print(compact_table(Path(args.out) / "result"))


def compact_table(out: Path) -> str:
    """The table of docs/quality.md: one row per explainer, the headline numbers only."""
    from geoxai.quality.outputs import _cell, markdown_table, summarize

    columns = [("deletion_most_auc_norm", "deletion AUC ↓"), ("insertion_most_auc_norm", "insertion AUC ↑"),
               ("deletion_most_km_auc", "deletion km-AUC ↑"), ("stability_spearman", "seed Spearman ↑"),
               ("stability_topk", "seed top-1000 overlap ↑"), ("stability_ci_difference", "seed ci rel. diff. ↓")]
    head = ["map", "photos", *[label for _, label in columns], "sanity: Spearman, classifier random ↓",
            "sanity: Spearman, all random ↓", "sanity"]
    body = []
    for name, entry in summarize(out).items():
        stages = list(entry.get("sanity", {}).values())
        first = stages[0]["spearman"] if stages else None
        last = stages[-1]["spearman"] if stages else None
        verdict = entry.get("sanity_verdict", "–")
        cells = [_cell(entry.get(c)) if c != "deletion_most_km_auc" or c not in entry
                 else "{:.0f} [{:.0f}, {:.0f}]".format(*entry[c]) for c, _ in columns]
        body.append([name, str(entry["images"]), *cells, _cell(first), _cell(last), verdict])
    return markdown_table(head, body)


if __name__ == "__main__":
    main()
