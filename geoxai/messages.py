"""Messages on one line: what every command, job, plugin and the app print for an error (the house
rule: a one-line error, never a traceback). One place, so they read the same everywhere.

- :func:`first_line`: the first non-empty line of an error (a library's multi-line message);
- :func:`typed_line`: the same with the error's type in front (``OSError: ...``), for errors whose
  type says what went wrong (a plugin that failed to import or build);
- :func:`squeezed`: every line of a text joined (whitespace runs become one space), optionally cut;
- :func:`escaped`: a text whose line breaks are shown as ``\\n`` (a file name holding one stays readable).
"""
from __future__ import annotations


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of ``error``'s message, stripped (a KeyError's key without its
    quotes); an exception with an empty message gives its type's name, an empty text ``""``."""
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        return lines[0]
    return type(error).__name__ if isinstance(error, BaseException) else ""


def typed_line(error: BaseException) -> str:
    """``Type: first line of the message`` (the type alone when the message is empty)."""
    line = first_line(error)
    name = type(error).__name__
    return name if line == name else f"{name}: {line}"


def squeezed(text: str, limit: int | None = None) -> str:
    """``text`` on one line: all its lines, each whitespace run one space; at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if limit is None else line[:limit]


def escaped(text: str) -> str:
    """``text`` on one line, whatever a file name in it holds: line breaks shown as ``\\r``/``\\n``."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
