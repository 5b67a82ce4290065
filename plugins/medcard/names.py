"""Name matching: the same Uzbek name is typed with different apostrophes and letter case.

``O'rinboyev`` typed with the turned comma (U+02BB), an ASCII apostrophe or a backtick, in any
letter case, is one surname, so search compares folded keys. Transliteration between Latin and
Cyrillic is not attempted: a name is found in the script it was registered in.
"""

from __future__ import annotations

import unicodedata

_MARKS = "\u02bb\u02bc\u2019\u2018`"  # o/g turned comma, modifier apostrophe, curly quotes, backtick


def search_key(name: str) -> str:
    text = unicodedata.normalize("NFC", name).casefold()
    for mark in _MARKS:
        text = text.replace(mark, "'")
    return " ".join(text.split())
