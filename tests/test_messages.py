"""The one-line message helpers every command, job, plugin and the app share (geoxai.messages)."""
from __future__ import annotations

from geoxai.messages import escaped, first_line, squeezed, typed_line


def test_first_line_takes_the_first_non_empty_line_and_the_type_when_nothing_is_said():
    assert first_line(ValueError("\n  bad value  \nhint on the next line")) == "bad value"
    assert first_line(KeyError("weights")) == "weights"  # not "'weights'"
    assert first_line(RuntimeError()) == "RuntimeError"
    assert first_line("") == "" and first_line("one\ntwo") == "one"


def test_typed_line_puts_the_type_in_front_once():
    assert typed_line(ImportError("No module named 'x'\nmore")) == "ImportError: No module named 'x'"
    assert typed_line(OSError()) == "OSError"


def test_squeezed_joins_every_line_and_escaped_keeps_line_breaks_visible():
    assert squeezed("a\n  b\tc ") == "a b c" and squeezed("x" * 300, 200) == "x" * 200
    assert escaped("bad\nname\r.jpg: not an image") == "bad\\nname\\r.jpg: not an image"
