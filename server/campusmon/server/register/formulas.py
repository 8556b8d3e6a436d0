"""Spreadsheet formula injection: text that Excel, WPS or LibreOffice would run as a formula.

OWASP's CSV-injection rule: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is
prefixed with a single quote, so the program shows it as text. The full-width forms (`＝＋－＠`) are
treated the same, since spreadsheet programs in Chinese and Japanese locales may normalise them into
the ASCII ones; so is such a character behind leading blanks. A value that starts with our own quote
in front of such text gets one more quote, so `restore(neutralise(v)) == v` for every string and an
export imports back unchanged.
"""

from __future__ import annotations

from typing import Final

#: first characters a spreadsheet program may take as the start of a formula (or of a DDE call)
FORMULA_STARTS: Final = frozenset("=+-@\t\r＝＋－＠")
#: what a spreadsheet program skips before deciding (space, no-break space, ideographic space)
_BLANKS: Final = " \u00a0\u3000"
QUOTE: Final = "'"


def needs_quote(text: str) -> bool:
    """True when `text` could run as a formula, or starts with a quote that `restore` would remove."""
    head = text.lstrip(_BLANKS)[:1]
    if head in FORMULA_STARTS and head:
        return True
    return text.startswith(QUOTE) and needs_quote(text[1:])


def neutralise(text: str) -> str:
    """The cell text to write: a single quote in front when the text could run as a formula."""
    return QUOTE + text if needs_quote(text) else text


def restore(text: str) -> str:
    """The original value of a cell written by `neutralise` (any other text is left as it is)."""
    if text.startswith(QUOTE) and needs_quote(text[1:]):
        return text[1:]
    return text
