"""Draw docs/gallery.md's figures: the real ImageNet EfficientNet-Lite0 (``imagenet-lite0``, offline) on
the public-domain / CC0 sample photos shipped with geoxai, every explainer that applies to a CNN side
by side, each map with its own colour bar.

    PYTHONPATH=. python docs/make_gallery.py          # writes docs/gallery/<photo>.jpg (about a minute per photo)

The attention explainers (attention-rollout, gradient-attention, lrp-transformer) need a vision
transformer and are not drawn here (docs/transformers.md).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import geoxai  # noqa: E402
import geoxai.data  # noqa: E402
from geoxai.io.images import load_image  # noqa: E402
from geoxai.viz.figure import map_units  # noqa: E402

OUT = Path(__file__).resolve().parent / "gallery"
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")
#: explainer -> options (ig-smoothgrad at its default budget=80)
EXPLAINERS = {"ig-smoothgrad": {}, "gradcam": {}, "combicam": {}, "lrp": {}}


def draw(name: str, view: np.ndarray, label: str, probability: float, maps: dict[str, np.ndarray],
         seconds: dict[str, float], path: Path) -> None:
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(3.0 * (1 + len(maps)), 3.3), dpi=80)
    axes[0].imshow(view)
    axes[0].set_title(f"{name}\n{label} (p={probability:.2f})", fontsize=9)
    gray = view.mean(axis=2, keepdims=True).repeat(3, axis=2) / 255.0
    for ax, (explainer, heat) in zip(axes[1:], maps.items()):
        signed = heat.min() < 0
        limit = float(np.percentile(np.abs(heat), 99.5)) or 1.0
        ax.imshow(gray * 0.6)
        shown = ax.imshow(heat, cmap="bwr" if signed else "inferno", alpha=0.65,
                          vmin=-limit if signed else 0.0, vmax=limit)
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
        bar.ax.tick_params(labelsize=6)
        bar.set_label(map_units(explainer, heat).split(" (")[0], fontsize=7)
        ax.set_title(f"{explainer}\n{seconds[explainer]:.1f} s", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    save_small(fig, path)


def save_small(fig, path: Path) -> None:
    """The figure as a JPEG of quality 85 (a third of the PNG's size: the gallery stays small)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    Image.open(buffer).convert("RGB").save(path, format="JPEG", quality=85, optimize=True)


def main() -> int:
    torch.manual_seed(0)
    OUT.mkdir(exist_ok=True)
    model = geoxai.load_model("imagenet-lite0")
    explainers = {name: geoxai.load_explainer(name, **options) for name, options in EXPLAINERS.items()}
    for name in PHOTOS:
        batch = model.prepare([load_image(geoxai.data.sample(name))], ids=[name])
        prediction = model.predict(batch)[0]
        maps, seconds = {}, {}
        for explainer_name, explainer in explainers.items():
            start = time.perf_counter()
            maps[explainer_name] = explainer.explain(model, batch)[0].numpy()
            seconds[explainer_name] = time.perf_counter() - start
        path = OUT / f"{name}.jpg"
        draw(name, batch.pixels[0].permute(1, 2, 0).numpy(), prediction.label, prediction.probability, maps,
             seconds, path)
        print(f"{path}: {path.stat().st_size // 1024} KiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
