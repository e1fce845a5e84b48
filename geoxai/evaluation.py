"""Geolocation accuracy of a model on a dataset (the papers' a_r table at 1/25/200/750/2500 km)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .geodesy import ACCURACY_RADII_KM, accuracy_at, great_circle_km
from .io.atomic import write_text_atomic
from .io.datasets import Sample
from .io.images import ImageError, load_image, storable_name
from .views import TEST_TIME, check_views


@dataclass
class Evaluation:
    model: str
    predictions: pd.DataFrame  # one row per evaluated image
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image id, reason)
    views: str = TEST_TIME  # the prediction protocol (geoxai.views)

    @property
    def accuracy(self) -> dict[float, float]:
        return accuracy_at(self.predictions["gcd_km"].to_numpy())

    def table(self) -> pd.DataFrame:
        """One row (the model) and a column per radius, in percent, as the papers print it."""
        acc = self.accuracy
        row = {f"{r} km": round(100.0 * acc[r], 1) for r in ACCURACY_RADII_KM}
        return pd.DataFrame([row], index=pd.Index([self.model], name="model")).assign(
            images=len(self.predictions), views=self.views)

    def write(self, out_dir: str | os.PathLike) -> list[Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [
            write_text_atomic(out / "accuracy.csv", self.table().to_csv()),
            write_text_atomic(out / "accuracy.json", json.dumps({
                "model": self.model, "views": self.views, "images": len(self.predictions), "failed": len(self.failed),
                "accuracy": {str(r): v for r, v in self.accuracy.items()},
            }, indent=2)),
            write_text_atomic(out / "predictions.csv", self.predictions.to_csv(index=False)),
        ]
        if self.failed:
            failed = pd.DataFrame(self.failed, columns=["id", "reason"])
            written.append(write_text_atomic(out / "failed.csv", failed.to_csv(index=False)))
        return written


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table in the papers' layout: approach | a_r [%] @ 1 25 200 750 2500 km."""
    radii = [c for c in table.columns if c.endswith(" km")]
    with_views = "views" in table.columns
    head = (f"{'model':<24}" + "".join(f"{c:>9}" for c in radii) + f"{'images':>9}"
            + (f"{'views':>11}" if with_views else ""))
    lines = ["a_r [%] @ km".rjust(len(head)), head]
    for name, row in table.iterrows():
        lines.append(f"{str(name):<24}" + "".join(f"{row[c]:>9.1f}" for c in radii) + f"{int(row['images']):>9d}"
                     + (f"{row['views']:>11}" if with_views else ""))
    return "\n".join(lines)


def evaluate(model, samples: Sequence[Sample], batch_size: int = 16, workers: int = 2,
             progress: bool = True, top_k: int = 1, views: str = TEST_TIME) -> Evaluation:
    """Predict every sample by the protocol ``views`` (default: the model's test-time crops) and
    measure the GCD errors.

    A sample that cannot be loaded is listed in ``failed`` with a one-line reason naming the
    file; ids that are not UTF-8 (file names with undecodable bytes) are escaped (``\\xff``) so
    every result can be written."""
    from dataclasses import replace

    check_views(views)
    from .prediction import predict
    from .progress import Progress

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    samples = [s if storable_name(s.id) == s.id else replace(s, id=storable_name(s.id)) for s in samples]
    rows: list[dict[str, Any]] = []
    failed: list[tuple[str, str]] = []
    bar = Progress(len(samples), f"evaluate {model.name}", enabled=progress, bare_counts=True)
    for chunk, images in _decoded_batches(samples, batch_size, workers):
        for s, image in zip(chunk, images):  # one image at a time: the progress advances per image
            if isinstance(image, Exception):
                failed.append((s.id, str(image)))
            else:
                (p,) = predict(model, [image], top_k=top_k, ids=[s.id], views=views)
                rows.append({
                    "id": s.id, "lat": s.lat, "lon": s.lon, "pred_cell": p.cell, "pred_lat": p.lat,
                    "pred_lon": p.lon, "pred_label": p.label, "probability": p.probability,
                    "gcd_km": float(great_circle_km(s.lat, s.lon, p.lat, p.lon)), "views": views,
                })
            bar.advance()
    bar.close()
    columns = ["id", "lat", "lon", "pred_cell", "pred_lat", "pred_lon", "pred_label", "probability", "gcd_km", "views"]
    return Evaluation(model.name, pd.DataFrame(rows, columns=columns), failed, views=views)


def _decoded_batches(samples: Sequence[Sample], batch_size: int, workers: int) -> Iterator[tuple[list, list]]:
    """Decode the next batch in background threads while the current one is predicted."""
    chunks = [list(samples[i:i + batch_size]) for i in range(0, len(samples), batch_size)]
    if not chunks:
        return
    if workers <= 0:  # decode in this thread
        for chunk in chunks:
            yield chunk, _load_all(chunk)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = [pool.submit(_load_all, chunks[0])]
        for i, chunk in enumerate(chunks):
            if i + 1 < len(chunks):
                pending.append(pool.submit(_load_all, chunks[i + 1]))
            yield chunk, pending.pop(0).result()


def _load_all(chunk: Iterable[Sample]) -> list[Any]:
    out: list[Any] = []  # an image array, or the ImageError that loading it raised
    for s in chunk:
        try:
            out.append(load_image(s.image))
        except ImageError as exc:
            out.append(exc)
    return out

