"""Every ```python block in README.md and docs/*.md runs as written: offline, from an empty working
folder, top to bottom within its file (one fresh interpreter per file), unless the block's first
line is ``# needs: <what>`` (weights, a GPU, a server). So the docs cannot rot."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
NEEDS = "# needs:"


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def runnable(blocks: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(line, code) for line, code in blocks if not code.lstrip().startswith(NEEDS)]


def script(path: Path) -> str:
    """The file's runnable blocks, in order, each announced so that a failure names its line."""
    parts = []
    for line, code in runnable(python_blocks(path)):
        parts.append(f"print({f'--- {path.name}:{line}'!r}, flush=True)\n{code}")
    return "\n".join(parts)


def test_needs_blocks_are_a_minority_and_declare_what_they_need():
    blocks = [code for path in DOCS for _, code in python_blocks(path)]
    needs = [code.lstrip().splitlines()[0] for code in blocks if code.lstrip().startswith(NEEDS)]
    assert len(needs) * 2 < len(blocks), f"{len(needs)} of {len(blocks)} blocks are '# needs:'"
    assert all(len(line) > len(NEEDS) + 2 for line in needs), needs


@pytest.mark.parametrize("path", [p for p in DOCS if runnable(python_blocks(p))], ids=lambda p: p.name)
def test_python_examples_run(path, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg", "GEOXAI_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1"}
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", script(path)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)
    marks = [line for line in done.stdout.splitlines() if line.startswith("--- ")]
    where = marks[-1][4:] if marks else path.name
    assert done.returncode == 0, f"the block at {where} failed:\n{done.stderr[-3000:]}"
