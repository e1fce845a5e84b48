"""Progress on stderr for the commands and the jobs: ``done/total`` images, one update per finished image.

On a terminal one line is redrawn in place (count, time spent, time per image, time left). When stderr
is a file or a pipe (a batch job's log) plain lines are written instead, without ``\\r`` redraws:

- a job (``report``, ``quality``): ``0/N`` at once, then at most one line every ``interval`` seconds,
  the last count always, so a long job's log does not grow by a line per image;
- ``bare_counts=True`` (``explain``, ``predict``, ``segment``, ``evaluate``): one bare ``explain: 3/8``
  line per update, the last one ``N/N``, as scripts reading the log expect.

``enabled=False`` (``--quiet``) prints nothing but ``error`` lines. ``status`` (and the module's
``status``/``say`` before a progress exists) says what a slow start-up is doing ("loading model ...").

    with Progress(len(paths), "explain", bare_counts=True) as progress:
        for path in paths:
            ...
            progress.advance()
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """``done/total`` on ``stream`` (default: stderr)."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None,
                 interval: float = 10.0, bare_counts: bool = False) -> None:
        self.total, self.label, self.enabled = int(total), label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _is_terminal(self.stream)
        self.interval = 0.0 if bare_counts else interval
        self.bare_counts = bare_counts
        self.done = 0
        self.start = time.monotonic()
        self.last_line = float("-inf")
        self.shown = -1  # the count last written
        self.drawn = False

    def status(self, text: str) -> None:
        """One line saying what is being done now (loading weights, starting workers); hidden when disabled."""
        if self.enabled:
            self.error(f"{self.label}: {text}")

    def error(self, message: str) -> None:
        """One line that is always shown (an unreadable file), on a line of its own below the redrawn count."""
        self._end_line()
        print(message, file=self.stream, flush=True)

    def advance(self, images: int = 1) -> None:
        self.done += images
        if not self.enabled or self.done == self.shown:
            return
        now = time.monotonic()
        if self.tty or self.done >= self.total or self.done == images or now - self.last_line >= self.interval:
            self._show(now)

    def line(self, now: float | None = None) -> str:
        if self.bare_counts and not self.tty:
            return f"{self.label}: {self.done}/{self.total}"
        elapsed = (time.monotonic() if now is None else now) - self.start
        text = f"{self.label}: {self.done}/{self.total} images"
        if self.done:
            rate = elapsed / self.done
            left = f", ~{_duration(rate * (self.total - self.done))} left" if self.done < self.total else ""
            text += f" ({_duration(elapsed)}, {rate:.2f} s/image{left})"
        return text

    def _show(self, now: float) -> None:
        self.last_line, self.shown = now, self.done
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line(now))
            self.drawn = True
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def _end_line(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False

    def close(self) -> None:
        if self.enabled:
            if self.shown != self.done and (self.done or not self.bare_counts):
                self._show(time.monotonic())  # a log always ends with the count reached
            self._end_line()
            self.stream.flush()

    def __enter__(self) -> Progress:
        if self.enabled and self.total and not self.bare_counts:
            self._show(time.monotonic())  # 0/N at once: the job has started
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def status(message: str, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Say what a slow start-up step is doing, on stderr, unless ``enabled`` is False (``--quiet``)."""
    if enabled:
        print(message, file=stream if stream is not None else sys.stderr, flush=True)


def say(label: str, text: str, enabled: bool = True) -> None:
    """A job's start-up line before its progress starts (``label: text`` on stderr)."""
    status(f"{label}: {text}", enabled)
