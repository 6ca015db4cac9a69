"""Small text helpers shared by understanding, retrieval post-processing and the citation guard."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")
# Control characters other than tab/newline come from binary junk or copy-paste accidents.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def fold(text: str) -> str:
    """Lowercase and strip accents so that "Résiliation", "resiliation" and "RÉSILIATION" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def clean_input(text: str) -> str:
    """Remove control characters and collapse whitespace; keeps every printable character (emoji included)."""
    text = _CONTROL.sub(" ", text.replace("\ufffd", " "))
    return re.sub(r"\s+", " ", text).strip()


def squash(text: str) -> str:
    """Collapse every whitespace run to one space (for whitespace-tolerant quote matching)."""
    return re.sub(r"\s+", " ", text).strip()
