"""Messages the app sends to the page: one line, no absolute server path, bounded length."""
from __future__ import annotations

import re

from ..messages import first_line

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
    """The first line of an error (``geoxai.messages.first_line``), paths scrubbed, at most MAX_MESSAGE chars."""
    line = scrub_paths(first_line(error))
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 1] + "…"
