"""Generated geotagged datasets and row comparisons shared by the report tests."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from geoxai.testing import TINY_CITIES, synthetic_photo

# gradcam is cheap and deterministic, so rows from different runs/engines compare exactly.
EXPLAINER = "gradcam"
BASE_ARGS = ["--model", "tiny", "--explainer", EXPLAINER, "--segmenter", "tiny", "--k", "300", "--min-images", "2"]


def make_dataset(folder: Path, n: int = 24, seed: int = 0, broken: bool = False) -> Path:
    """``n`` small photos, half of them placed near one of the tiny model's cities (so some
    predictions are correct at 750 km), as an image,lat,lon,id CSV; ``broken`` adds a missing,
    a non-image and a truncated JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        Image.fromarray(synthetic_photo(seed * 1000 + i, 64, 72 + (i % 3) * 8)).save(folder / f"p{i}.jpg", quality=90)
        if i % 2:
            _, _, lat, lon, _ = TINY_CITIES[int(rng.integers(len(TINY_CITIES)))]
            lat, lon = lat + rng.uniform(-1, 1), lon + rng.uniform(-1, 1)
        else:
            lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
        rows.append((f"p{i}.jpg", f"{lat:.5f}", f"{lon:.5f}", f"img{i:03d}"))
    if broken:
        (folder / "garbage.jpg").write_bytes(b"this is not a jpeg at all")
        good = (folder / "p0.jpg").read_bytes()
        (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
        rows += [("missing.jpg", "10", "10", "missing"), ("garbage.jpg", "20", "20", "garbage"),
                 ("truncated.jpg", "30", "30", "truncated")]
    path = folder / "data.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "lat", "lon", "id"])
        writer.writerows(rows)
    return path


def read_rows(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All image and concept rows of a report folder, sorted, without run-specific columns."""
    from geoxai.report.store import PartStore

    store = PartStore(out)
    images = store.read_images().drop(columns=["shard", "image_stamp"]).sort_values("image_id").reset_index(drop=True)
    # the explainer's per-image facts (JSON) become numeric columns, compared with a tolerance like the rest
    info = pd.json_normalize([json.loads(i) if isinstance(i, str) else {} for i in images.pop("explainer_info")])
    images = pd.concat([images, info.add_prefix("info_")], axis=1)
    concepts = store.read_concepts().sort_values(["image_id", "concept_index"]).reset_index(drop=True)
    return images, concepts


def assert_same_rows(a: Path, b: Path) -> None:
    ia, ca = read_rows(a)
    ib, cb = read_rows(b)
    ia["path"], ib["path"] = ia["path"].map(lambda p: Path(p).name), ib["path"].map(lambda p: Path(p).name)
    pd.testing.assert_frame_equal(ia, ib, check_exact=False, rtol=1e-6)
    pd.testing.assert_frame_equal(ca, cb, check_exact=False, rtol=1e-6)
    assert not ia["image_id"].duplicated().any()
    assert not ca.duplicated(["image_id", "concept"]).any()


