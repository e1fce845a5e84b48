"""What a report is computed with, and the fingerprint that guards an output folder.

Everything that changes a per-image row (model, weights, explainer and its options, segmenter, k,
min_size, dilation, seed, the prediction protocol ``views``, ``shapley``, the dataset) is part of the
fingerprint; what only changes the summary (radius, min_images) or the speed (batch size, workers, engine)
is not, so those can differ between a run and its resume.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io.atomic import write_text_atomic
from ..io.json_files import read_json_object

CONFIG_FILE = "config.json"


@dataclass
class ReportConfig:
    model: str
    explainer: str
    segmenter: str
    model_options: dict[str, Any] = field(default_factory=dict)
    explainer_options: dict[str, Any] = field(default_factory=dict)
    segmenter_options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    k: int = 1000
    min_size: float = 0.1
    dilation: int = 0
    seed: int = 0
    #: the prediction protocol of the rows (``geoxai.views``): "single" = the explained view (the
    #: default, and what every report before this field used), "test-time" = the test-time crops
    views: str = "single"
    #: concept Shapley values (``concept-shap``) beside the explainer's ci, and their agreement
    #: (``--shapley``); always on when the explainer is concept-shap itself
    shapley: bool = False
    data: str = ""
    data_hash: str = ""

    def fingerprint(self) -> dict[str, Any]:
        """The fields an output folder is bound to (``data``, the path, may move; its hash may not)."""
        out = asdict(self)
        out.pop("data")
        return json.loads(json.dumps(out, sort_keys=True, default=str))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def dataset_hash(samples: Sequence[Any], root: Path) -> str:
    """sha256 over the dataset's ids, coordinates and image paths (relative to ``root`` where
    possible), so a moved dataset folder still resumes while an edited one is refused."""
    h = hashlib.sha256()
    root = Path(root).resolve()
    for s in samples:
        image = Path(s.image).resolve()
        try:
            image = image.relative_to(root)
        except ValueError:
            pass
        # surrogateescape: a file name that is not UTF-8 still hashes (its bytes, exactly)
        h.update(f"{s.id}\t{float(s.lat)!r}\t{float(s.lon)!r}\t{image.as_posix()}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def check_config(out: Path, config: ReportConfig) -> bool:
    """Refuse an output folder made with a different config, writing nothing; True when ``out``
    is already bound to this config, False when it is not bound yet."""
    path = Path(out) / CONFIG_FILE
    if not path.exists():
        return False
    existing = load_config_file(path).fingerprint()
    wanted = config.fingerprint()
    changed = sorted(k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k))
    if changed:
        diffs = "; ".join(f"{k}: {existing.get(k)!r} -> {wanted.get(k)!r}" for k in changed)
        raise ValueError(
            f"{out} holds a report made with a different configuration ({diffs}); "
            f"use another --out or delete it"
        )
    return True


def bind_config(out: Path, config: ReportConfig) -> None:
    """Write ``config.json`` into a new output folder, or refuse one made with a different config."""
    if check_config(out, config):
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / CONFIG_FILE, config.to_json())


def read_config(out: Path) -> ReportConfig:
    path = Path(out) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{out}: not a geoxai report folder (no {CONFIG_FILE})")
    return load_config_file(path)


def load_config_file(path: Path) -> ReportConfig:
    """``config.json`` -> ReportConfig; a file that is not a report configuration (bad JSON, a
    list, a dict without model/explainer/segmenter or with values of the wrong type) is a
    one-line ValueError naming it."""
    problem = f"{path}: not a geoxai report configuration"
    doc = read_json_object(path, problem, "; delete it or use another --out")
    required = [name for name, f in ReportConfig.__dataclass_fields__.items()
                if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in doc]
    wrong = [name for name in required if name in doc and not isinstance(doc[name], str)]
    if missing or wrong:
        what = (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and wrong else "") + \
               (f"{', '.join(wrong)} not text" if wrong else "")
        raise ValueError(f"{problem} ({what}); delete it or use another --out")
    return ReportConfig.from_dict(doc)


def parse_shard(spec: str | None, env: dict[str, str] | None = None) -> tuple[int, int]:
    """``"I/N"`` -> (I, N); without a spec, torchrun's RANK/WORLD_SIZE, else (0, 1)."""
    env = os.environ if env is None else env
    if spec is None:
        if "RANK" in env and "WORLD_SIZE" in env:
            spec = f"{env['RANK']}/{env['WORLD_SIZE']}"
        else:
            return 0, 1
    index, sep, count = str(spec).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ValueError(f"shard {spec!r} is not I/N (e.g. 0/4)") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {spec!r} is not I/N with 0 <= I < N")
    return i, n
