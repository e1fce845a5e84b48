"""The writing system of a string, from the Unicode names of its letters (no extra dependency)."""
from __future__ import annotations

import unicodedata
from collections import Counter

#: script name -> the first words of the Unicode character names that belong to it
_SCRIPT_PREFIXES = {
    "latin": ("LATIN",),
    "cyrillic": ("CYRILLIC",),
    "greek": ("GREEK",),
    "arabic": ("ARABIC",),
    "hebrew": ("HEBREW",),
    "cjk": ("CJK", "HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA", "IDEOGRAPHIC"),
    "hangul": ("HANGUL",),
    "devanagari": ("DEVANAGARI",),
    "thai": ("THAI",),
    "georgian": ("GEORGIAN",),
    "armenian": ("ARMENIAN",),
}
#: the scripts ``script_of`` can return, in a fixed order (the ``text:<script>`` sub-concepts);
#: "other" is a script outside this list, "none" a string without letters (digits, signs)
SCRIPTS = (*_SCRIPT_PREFIXES, "other", "none")


def char_script(char: str) -> str | None:
    """The script of one letter, "other" for a letter of an unlisted script, None for a non-letter."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    for script, prefixes in _SCRIPT_PREFIXES.items():
        if name.startswith(prefixes):
            return script
    return "other"


def script_of(text: str) -> str:
    """The script most of ``text``'s letters are written in (ties: the one listed first in
    ``SCRIPTS``); "none" when it has no letters. ``script_of("Bahnhofstraße 5") == "latin"``."""
    counts = Counter(s for s in map(char_script, text) if s is not None)
    if not counts:
        return "none"
    return max(counts, key=lambda s: (counts[s], -SCRIPTS.index(s)))
