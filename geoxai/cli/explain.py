"""``geoxai explain``: explanation maps for photos, written as .npy + overlay .png + .json."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np
import torch

from ._common import friendly_errors, parse_options


@dataclass
class ImageRecord:
    """Everything known about one explained image; ``extra`` is where later stages (e.g. a
    segmenter) add their results before writing."""

    stem: str
    path: Path
    view: torch.Tensor          # uint8 [3, S, S], the explained view
    heat: torch.Tensor          # float32 [S, S], the raw map
    prediction: dict[str, Any]
    explained_cell: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def explain_batch(model, explainer, images: list[np.ndarray], paths: list[Path], stems: list[str],
                  target, options: dict[str, Any]) -> list[ImageRecord]:
    """Explain one batch of loaded RGB images; returns one record per image."""
    batch = model.prepare(images, ids=stems)
    maps = explainer.explain(model, batch, target, **options)
    predictions = model.predict(images, ids=stems)
    cells = None
    cell_fn = getattr(target, "cells", None)
    if cell_fn is not None:
        with torch.no_grad():
            picked = target.cells(model, model(model.as_input(batch)))
        cells = None if picked is None else picked.tolist()
    return [
        ImageRecord(stem=stem, path=path, view=batch.pixels[i], heat=maps[i], prediction=predictions[i].to_dict(),
                    explained_cell=None if cells is None else int(cells[i]))
        for i, (stem, path) in enumerate(zip(stems, paths))
    ]


def write_record(out_dir: Path, record: ImageRecord, meta: dict[str, Any]) -> None:
    """``<stem>.npy``, ``<stem>_overlay.png``, ``<stem>.json``, each written atomically."""
    from ..viz.overlay import save_overlay

    heat = record.heat.numpy().astype(np.float32)
    _atomic(out_dir / f"{record.stem}.npy", lambda fh: np.save(fh, heat))
    save_overlay(out_dir / f"{record.stem}_overlay.png", record.view, heat)
    doc = {
        "image": str(record.path),
        **meta,
        "explained_cell": record.explained_cell,
        "prediction": record.prediction,
        "map": {"file": f"{record.stem}.npy", "shape": list(heat.shape),
                "min": float(heat.min()), "max": float(heat.max())},
        **record.extra,
    }
    text = json.dumps(doc, indent=2, default=str)
    _atomic(out_dir / f"{record.stem}.json", lambda fh: fh.write(text.encode()))


def _atomic(path: Path, write: Callable) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unique_stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        n = seen.get(p.stem, 0)
        seen[p.stem] = n + 1
        stems.append(p.stem if n == 0 else f"{p.stem}_{n + 1}")
    return stems


def explainer_options(explainer, overrides: dict[str, Any]) -> dict[str, Any]:
    resolved = getattr(explainer, "resolved_options", None)
    return resolved(**overrides) if resolved else {**explainer.options, **overrides}


@click.command("explain")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "-m", "model_name", required=True, help="Registered model name (see `geoxai plugins`).")
@click.option("--explainer", "-e", "explainer_name", default="ig-smoothgrad", show_default=True,
              help="Registered explainer name.")
@click.option("--target", "-t", default="predicted", show_default=True,
              help="What to explain: predicted, cell:N, region:NODE, within:LAT,LON,KM or cells:I,J.")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Explainer option, repeatable (e.g. -o n_steps=20 -o layer=stage2).")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model option, repeatable.")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="Model weight file to use.")
@click.option("--batch-size", "-b", default=8, show_default=True, type=click.IntRange(min=1),
              help="Images explained together.")
@click.option("--out", "-O", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder (created if missing).")
@friendly_errors
def command(images, model_name, explainer_name, target, options, model_options, weights, batch_size, out_dir):
    """Explain where MODEL put each IMAGE (files or folders).

    Writes per image <stem>.npy (raw map at the model input size), <stem>_overlay.png (the map
    over the explained view) and <stem>.json (prediction, target, explainer and options). An
    unreadable image gets a one-line error; the others are still explained, and the exit status
    is 1 at the end.
    """
    from ..io.images import list_images, load_image
    from ..plugins import load_explainer, load_model
    from ..targets import parse_target

    parsed_target = parse_target(target)
    model_opts = parse_options(model_options)
    if weights is not None:
        model_opts["weights"] = str(weights)
    try:
        model = load_model(model_name, **model_opts)
    except TypeError as exc:
        raise ValueError(f"model {model_name!r} does not accept these options ({exc})") from None
    explainer_opts = parse_options(options)
    explainer = load_explainer(explainer_name)
    meta = {
        "model": model_name,
        "explainer": explainer_name,
        "options": explainer_options(explainer, explainer_opts),
        "target": str(parsed_target),
    }
    paths = list_images(images)
    if not paths:
        raise ValueError("no images found in " + ", ".join(map(str, images)))
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = unique_stems(paths)
    failures = written = 0
    for start in range(0, len(paths), batch_size):
        loaded, ok_paths, ok_stems = [], [], []
        for path, stem in zip(paths[start:start + batch_size], stems[start:start + batch_size]):
            try:
                loaded.append(load_image(path))
            except (OSError, ValueError) as exc:
                failures += 1
                message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                click.echo(f"error: {message}".splitlines()[0], err=True)
                continue
            ok_paths.append(path)
            ok_stems.append(stem)
        if not loaded:
            continue
        for record in explain_batch(model, explainer, loaded, ok_paths, ok_stems, parsed_target, explainer_opts):
            write_record(out_dir, record, meta)
            written += 1
    click.echo(f"explained {written} image(s) into {out_dir}" + (f"; {failures} failed" if failures else ""))
    if failures:
        sys.exit(1)
