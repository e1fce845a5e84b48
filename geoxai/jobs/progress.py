"""Progress of a job on stderr: ``done/total`` images, updated as each image is finished.

On a terminal one line is redrawn in place; in a file (a batch job's log) plain lines are
written, the first and the last always and between them at most one every ``interval`` seconds,
so a log shows ``N/N`` at the end without growing by a line per image. ``status`` says what a
slow start-up is doing (loading weights, starting Ray). Disabled (``--quiet``), it prints nothing.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None,
                 interval: float = 10.0) -> None:
        self.total, self.label, self.enabled = int(total), label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.done = 0
        self.start = time.monotonic()
        self.last_line = float("-inf")
        self.shown = -1  # the count last written
        self.drawn = False

    def status(self, text: str) -> None:
        """One line saying what the job is doing now (before its first image)."""
        if self.enabled:
            self._end_line()
            print(f"{self.label}: {text}", file=self.stream, flush=True)

    def advance(self, images: int = 1) -> None:
        self.done += images
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty or self.done >= self.total or self.done == images or now - self.last_line >= self.interval:
            self._show(now)

    def line(self, now: float | None = None) -> str:
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
            if self.shown != self.done:
                self._show(time.monotonic())  # a log always ends with the count reached
            self._end_line()
            self.stream.flush()

    def __enter__(self) -> Progress:
        if self.enabled and self.total:
            self._show(time.monotonic())  # 0/N at once: the job has started
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def say(label: str, text: str, enabled: bool = True) -> None:
    """A start-up line before a job's progress starts (``label: text`` on stderr)."""
    Progress(0, label, enabled=enabled).status(text)
