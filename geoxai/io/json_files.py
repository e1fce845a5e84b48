"""Reading a JSON metadata file that must hold an object (a manifest, a configuration)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_object(path: str | Path, problem: str, advice: str = "") -> dict[str, Any]:
    """The JSON object in ``path``; bad JSON, bad UTF-8 or another JSON type is a one-line
    ValueError ``"{problem} (why){advice}"`` (``problem`` names the file)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{problem} ({exc}){advice}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{problem} (a JSON {type(doc).__name__}, not an object){advice}")
    return doc
