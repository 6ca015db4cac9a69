"""Call-centre shorthand expanded before anything reads a message ("résil." -> "résiliation", "36m" -> "36 mois"):
the tables are data (knowledge/lexicon.yaml `abbreviations`, `unit_shorthand`, `length_words`)."""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.agent.figures import current_lexicon
from assistant.agent.text import fold


def _table_pattern(table: dict[str, str], template: str) -> tuple[re.Pattern[str], dict[str, str]] | None:
    """A lexicon table (lower-cased keys) and the pattern finding its keys, longest first, in `template`."""
    table = {k.lower(): v for k, v in table.items()}
    if not table:
        return None
    keys = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    return re.compile(template.replace("KEYS", keys), re.IGNORECASE), table


@lru_cache(maxsize=1)
def _abbreviations() -> tuple[re.Pattern[str], dict[str, str]] | None:
    """Call-centre shorthand and its expansion (lexicon `abbreviations`)."""
    return _table_pattern(current_lexicon().abbreviations, r"(?<![\w'’-])(KEYS)\.?(?![\w'’-])")


@lru_cache(maxsize=1)
def _unit_shorthand() -> tuple[re.Pattern[str], dict[str, str]] | None:
    """A unit letter right after a number ("36m", "8 j") and the unit it stands for (lexicon `unit_shorthand`)."""
    return _table_pattern(current_lexicon().unit_shorthand, r"(?<![\w.,/])(\d{1,3})\s?(KEYS)(?![\w'’€%/-])")


def expand_abbreviations(text: str) -> str:
    found = _abbreviations()
    if found is not None:
        pattern, table = found
        text = pattern.sub(lambda m: table[m.group(1).lower()], text)
    units = _unit_shorthand()
    if units is not None:
        pattern, table = units
        text = pattern.sub(lambda m: m.group(0) if _measures_length(text, m.start())
                           else f"{m.group(1)} {table[m.group(2).lower()]}", text)
    return text


def _measures_length(text: str, position: int) -> bool:
    """A cable or a distance just before the number: "50m" is then metres, not months."""
    before = fold(text[max(0, position - 30):position])
    return any(re.search(rf"(?<!\w){re.escape(w)}", before) for w in current_lexicon().length_words)
