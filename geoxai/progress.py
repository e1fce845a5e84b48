"""Progress on stderr for the commands: ``done/total`` counts, one update per finished image.

On a terminal it is a tqdm bar; when stderr is a file or a pipe (a batch job's log) it is plain
lines (``explain: 3/8``), so the log shows every count, the last one ``N/N`` included, without the
``\\r`` redraws a bar would leave there. ``enabled=False`` (``--quiet``) prints nothing. ``status``
says what a slow start-up is doing ("loading model s2 ...").

    with Progress(len(paths), "explain") as progress:
        for path in paths:
            ...
            progress.advance()
"""
from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """``done/total`` on ``stream`` (default: stderr)."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None,
                 unit: str = "img") -> None:
        self.total, self.desc, self.enabled = int(total), desc, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._bar: Any = None
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream, mininterval=0.2,
                             dynamic_ncols=True)

    def status(self, message: str) -> None:
        """One line about a slow step (loading weights, starting workers); hidden when disabled."""
        if self.enabled:
            self.error(message)

    def error(self, message: str) -> None:
        """One line that is always shown (an unreadable file), without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(count)
        else:
            print(f"{self.desc}: {self.done}/{self.total}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()  # tqdm ends its line: the final N/N stays on screen
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def status(message: str, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Say what a slow start-up step is doing, on stderr, unless ``enabled`` is False (``--quiet``)."""
    if enabled:
        print(message, file=stream if stream is not None else sys.stderr, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
