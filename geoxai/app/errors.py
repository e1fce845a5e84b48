"""Messages the app sends to the page: one line, no absolute server path, bounded length."""
from __future__ import annotations

import re

MAX_MESSAGE = 600
# an absolute POSIX or Windows path (not a URL's "//host/..." part): shown by its last part only
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:/|[A-Za-z]:\\)[^\s'\"(),;]+")


def scrub_paths(text: str) -> str:
    """``/home/me/.cache/geoxai/weights/x.ckpt`` -> ``…/x.ckpt``: the page never learns server paths."""
    def short(match: re.Match[str]) -> str:
        tail = re.split(r"[/\\]", match.group(0).rstrip("/\\"))[-1]
        return f"…/{tail}" if tail else "…"

    return _ABSOLUTE_PATH.sub(short, text)


def one_line(error: BaseException | str) -> str:
    """The first line of an error (a KeyError without its quotes), paths scrubbed, at most MAX_MESSAGE chars."""
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error)
    if isinstance(error, BaseException) and not text.strip():
        text = type(error).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    line = scrub_paths(lines[0].strip() if lines else "")
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 1] + "…"
