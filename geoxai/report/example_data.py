"""The figure data of one report example (view, map, masks, prediction) as compressed .npz bytes:
made by the compute stage (``worker``), kept by ``examples.ExampleKeeper``, drawn by ``examples``."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np


def example_payload(image_id: str, view: np.ndarray, heat: np.ndarray, segmentation: np.ndarray,
                    prediction: dict, concepts: list[str]) -> bytes:
    """One image's figure data as compressed .npz bytes (cheap to ship from a Ray actor)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, view=np.asarray(view, dtype=np.uint8), heat=np.asarray(heat, dtype=np.float32),
                        segmentation=np.asarray(segmentation, dtype=np.int32),
                        meta=np.asarray(json.dumps({"image_id": image_id, "prediction": prediction,
                                                    "concepts": list(concepts)})))
    return buffer.getvalue()


def read_payload(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return {"view": data["view"], "heat": data["heat"], "segmentation": data["segmentation"], **meta}
